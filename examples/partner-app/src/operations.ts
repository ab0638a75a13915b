import { graphql } from "./gql/index.ts";

// Every operation the app sends, typed by codegen from schema/public.graphql (src/gql/ is generated).

export const Viewer = graphql(`
  query Viewer {
    viewer {
      role
      partner {
        id
        slug
      }
      purpose
    }
  }
`);

export const AwardByRef = graphql(`
  mutation AwardByRef($input: AwardPointsInput!) {
    awardPoints(input: $input) {
      id
      kind
      points64
      reference
      postedAt
    }
  }
`);

export const PartnerTransactions = graphql(`
  query PartnerTransactions($filter: PartnerTransactionFilter!, $first: Int, $after: String) {
    partnerTransactions(filter: $filter, first: $first, after: $after) {
      edges {
        cursor
        status
        memberRef
        node {
          id
          kind
          points64
          reference
          postedAt
        }
      }
      pageInfo {
        hasNextPage
        endCursor
      }
      totals {
        pointsIssued
        pointsRedeemed
        pointsReversed
        transactions
      }
    }
  }
`);

export const CreateWebhookEndpoint = graphql(`
  mutation CreateWebhookEndpoint($input: CreateWebhookEndpointInput!) {
    createWebhookEndpoint(input: $input) {
      secret
      endpoint {
        id
        url
        eventTypes
      }
    }
  }
`);

export const DeleteWebhookEndpoint = graphql(`
  mutation DeleteWebhookEndpoint($id: ID!) {
    deleteWebhookEndpoint(id: $id) {
      id
    }
  }
`);
