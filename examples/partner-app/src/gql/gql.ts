/* eslint-disable */
import * as types from './graphql.js';
import type { TypedDocumentNode as DocumentNode } from '@graphql-typed-document-node/core';

/**
 * Map of all GraphQL operations in the project.
 *
 * This map has several performance disadvantages:
 * 1. It is not tree-shakeable, so it will include all operations in the project.
 * 2. It is not minifiable, so the string of a GraphQL query will be multiple times inside the bundle.
 * 3. It does not support dead code elimination, so it will add unused operations.
 *
 * Therefore it is highly recommended to use the babel or swc plugin for production.
 * Learn more about it here: https://the-guild.dev/graphql/codegen/plugins/presets/preset-client#reducing-bundle-size
 */
type Documents = {
    "\n  query Viewer {\n    viewer {\n      role\n      partner {\n        id\n        slug\n      }\n      purpose\n    }\n  }\n": typeof types.ViewerDocument,
    "\n  mutation AwardByRef($input: AwardPointsInput!) {\n    awardPoints(input: $input) {\n      id\n      kind\n      points64\n      reference\n      postedAt\n    }\n  }\n": typeof types.AwardByRefDocument,
    "\n  query PartnerTransactions($filter: PartnerTransactionFilter!, $first: Int, $after: String) {\n    partnerTransactions(filter: $filter, first: $first, after: $after) {\n      edges {\n        cursor\n        status\n        memberRef\n        node {\n          id\n          kind\n          points64\n          reference\n          postedAt\n        }\n      }\n      pageInfo {\n        hasNextPage\n        endCursor\n      }\n      totals {\n        pointsIssued\n        pointsRedeemed\n        pointsReversed\n        transactions\n      }\n    }\n  }\n": typeof types.PartnerTransactionsDocument,
    "\n  mutation CreateWebhookEndpoint($input: CreateWebhookEndpointInput!) {\n    createWebhookEndpoint(input: $input) {\n      secret\n      endpoint {\n        id\n        url\n        eventTypes\n      }\n    }\n  }\n": typeof types.CreateWebhookEndpointDocument,
    "\n  mutation DeleteWebhookEndpoint($id: ID!) {\n    deleteWebhookEndpoint(id: $id) {\n      id\n    }\n  }\n": typeof types.DeleteWebhookEndpointDocument,
};
const documents: Documents = {
    "\n  query Viewer {\n    viewer {\n      role\n      partner {\n        id\n        slug\n      }\n      purpose\n    }\n  }\n": types.ViewerDocument,
    "\n  mutation AwardByRef($input: AwardPointsInput!) {\n    awardPoints(input: $input) {\n      id\n      kind\n      points64\n      reference\n      postedAt\n    }\n  }\n": types.AwardByRefDocument,
    "\n  query PartnerTransactions($filter: PartnerTransactionFilter!, $first: Int, $after: String) {\n    partnerTransactions(filter: $filter, first: $first, after: $after) {\n      edges {\n        cursor\n        status\n        memberRef\n        node {\n          id\n          kind\n          points64\n          reference\n          postedAt\n        }\n      }\n      pageInfo {\n        hasNextPage\n        endCursor\n      }\n      totals {\n        pointsIssued\n        pointsRedeemed\n        pointsReversed\n        transactions\n      }\n    }\n  }\n": types.PartnerTransactionsDocument,
    "\n  mutation CreateWebhookEndpoint($input: CreateWebhookEndpointInput!) {\n    createWebhookEndpoint(input: $input) {\n      secret\n      endpoint {\n        id\n        url\n        eventTypes\n      }\n    }\n  }\n": types.CreateWebhookEndpointDocument,
    "\n  mutation DeleteWebhookEndpoint($id: ID!) {\n    deleteWebhookEndpoint(id: $id) {\n      id\n    }\n  }\n": types.DeleteWebhookEndpointDocument,
};

/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 *
 *
 * @example
 * ```ts
 * const query = graphql(`query GetUser($id: ID!) { user(id: $id) { name } }`);
 * ```
 *
 * The query argument is unknown!
 * Please regenerate the types.
 */
export function graphql(source: string): unknown;

/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  query Viewer {\n    viewer {\n      role\n      partner {\n        id\n        slug\n      }\n      purpose\n    }\n  }\n"): (typeof documents)["\n  query Viewer {\n    viewer {\n      role\n      partner {\n        id\n        slug\n      }\n      purpose\n    }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  mutation AwardByRef($input: AwardPointsInput!) {\n    awardPoints(input: $input) {\n      id\n      kind\n      points64\n      reference\n      postedAt\n    }\n  }\n"): (typeof documents)["\n  mutation AwardByRef($input: AwardPointsInput!) {\n    awardPoints(input: $input) {\n      id\n      kind\n      points64\n      reference\n      postedAt\n    }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  query PartnerTransactions($filter: PartnerTransactionFilter!, $first: Int, $after: String) {\n    partnerTransactions(filter: $filter, first: $first, after: $after) {\n      edges {\n        cursor\n        status\n        memberRef\n        node {\n          id\n          kind\n          points64\n          reference\n          postedAt\n        }\n      }\n      pageInfo {\n        hasNextPage\n        endCursor\n      }\n      totals {\n        pointsIssued\n        pointsRedeemed\n        pointsReversed\n        transactions\n      }\n    }\n  }\n"): (typeof documents)["\n  query PartnerTransactions($filter: PartnerTransactionFilter!, $first: Int, $after: String) {\n    partnerTransactions(filter: $filter, first: $first, after: $after) {\n      edges {\n        cursor\n        status\n        memberRef\n        node {\n          id\n          kind\n          points64\n          reference\n          postedAt\n        }\n      }\n      pageInfo {\n        hasNextPage\n        endCursor\n      }\n      totals {\n        pointsIssued\n        pointsRedeemed\n        pointsReversed\n        transactions\n      }\n    }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  mutation CreateWebhookEndpoint($input: CreateWebhookEndpointInput!) {\n    createWebhookEndpoint(input: $input) {\n      secret\n      endpoint {\n        id\n        url\n        eventTypes\n      }\n    }\n  }\n"): (typeof documents)["\n  mutation CreateWebhookEndpoint($input: CreateWebhookEndpointInput!) {\n    createWebhookEndpoint(input: $input) {\n      secret\n      endpoint {\n        id\n        url\n        eventTypes\n      }\n    }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  mutation DeleteWebhookEndpoint($id: ID!) {\n    deleteWebhookEndpoint(id: $id) {\n      id\n    }\n  }\n"): (typeof documents)["\n  mutation DeleteWebhookEndpoint($id: ID!) {\n    deleteWebhookEndpoint(id: $id) {\n      id\n    }\n  }\n"];

export function graphql(source: string) {
  return (documents as any)[source] ?? {};
}

export type DocumentType<TDocumentNode extends DocumentNode<any, any>> = TDocumentNode extends DocumentNode<  infer TType,  any>  ? TType  : never;