/* eslint-disable */
/** Internal type. DO NOT USE DIRECTLY. */
type Exact<T extends { [key: string]: unknown }> = { [K in keyof T]: T[K] };
/** Internal type. DO NOT USE DIRECTLY. */
export type Incremental<T> = T | { [P in keyof T]?: P extends ' $fragmentName' | '__typename' ? T[P] : never };
import type { TypedDocumentNode as DocumentNode } from '@graphql-typed-document-node/core';
/** One award. Name the member by memberId or externalRef (exactly one); pass either points or purchaseAmount. Validated: nothing is written when a field is invalid. */
export type AwardPointsInput = {
  /** Instead of memberId: your own reference for the member (the externalRef you enrolled or linked it with, as in memberByPartnerRef; 1–128 characters). An unknown reference is NOT_FOUND; both or neither is BAD_USER_INPUT. The award's idempotency is the same whichever way you name the member. */
  externalRef?: string | null | undefined;
  /** Your unique key for this award (1–128 printable ASCII). Retrying with the same key and body returns the original transaction. */
  idempotencyKey: string;
  /** The member's hub id (must be linked to your partner; anyone else is NOT_FOUND). Exactly one of memberId and externalRef. */
  memberId?: string | number | null | undefined;
  /** An active offer redeemable at your partner: its bonus is paid from the offer budget. */
  offerId?: string | number | null | undefined;
  /** Points to award, 1–100,000,000. */
  points?: number | null | undefined;
  /** Purchase amount in the coalition currency; points = amount × your earn rate × the member's tier multiplier, rounded down. */
  purchaseAmount?: string | null | undefined;
  /** Your order or receipt id (at most 128 characters). */
  reference?: string | null | undefined;
};

/** A new webhook endpoint. Nothing is stored when a field is invalid (BAD_USER_INPUT names the field). */
export type CreateWebhookEndpointInput = {
  /** A label for people, at most 500 characters. */
  description?: string | null | undefined;
  /** The event types to receive (at least one). */
  eventTypes: Array<WebhookEventType>;
  /** The purpose under which member data in payloads is consent-filtered; default ACCOUNT_SERVICING. */
  purpose?: Purpose | null | undefined;
  /** Where to POST deliveries: an absolute http(s) URL, at most 2048 characters, without credentials or #fragment. Its host must resolve only to public addresses (private, loopback and link-local ones are refused outside the demo). */
  url: string;
};

/** Which of the partner's transactions: a time range (at most 366 days), and optionally kinds and statuses. */
export type PartnerTransactionFilter = {
  /** Start of the range, inclusive (posting time; ISO-8601 with offset, compared in UTC). */
  from: string;
  /** Only these kinds (omitted or empty: all). */
  kinds?: Array<TransactionKind> | null | undefined;
  /** Only these statuses (omitted or empty: all). */
  statuses?: Array<TransactionStatus> | null | undefined;
  /** End of the range, exclusive (posting time; ISO-8601 with offset, compared in UTC); after `from`, at most 366 days later. */
  to: string;
};

/** Why a partner reads member data; declared per request (Coalition-Purpose header) and bound into each consent. */
export type Purpose =
  /** Running the member's account at the partner: earning, redeeming, customer support. */
  | 'ACCOUNT_SERVICING'
  /** Aggregate analysis and insights; individual answers are not the goal. */
  | 'ANALYTICS'
  /** Choosing offers and messages for this member. */
  | 'OFFER_TARGETING';

/** What a token speaks for: the coalition operator, a partner brand, or one member. */
export type Role =
  /** The coalition operator: onboards partners, sets rates, approves settlement; sees everything. */
  | 'ADMIN'
  /** One member (token exchange through a partner's app, or the member app): sees only itself. */
  | 'MEMBER'
  /** A partner brand's API client: sees its own records and only the members linked to it. */
  | 'PARTNER';

/** What a points transaction did. Every transaction is a balanced set of ledger postings (they sum to zero). */
export type TransactionKind =
  /** A manual correction by an admin, with a reason. */
  | 'ADJUSTMENT'
  /** Points awarded by a partner to a member (the partner's issuance account pays). */
  | 'EARN'
  /** Points that expired, moved to the coalition's breakage account. */
  | 'EXPIRY'
  /** Bonus points of an offer, paid from the offer budget. */
  | 'OFFER_BONUS'
  /** An offer budget funded by its co-issuers in their shares. */
  | 'OFFER_FUNDING'
  /** The unused budget of an ended offer, returned to its co-issuers in their shares. */
  | 'OFFER_RETURN'
  /** Points spent by a member at a partner (or a manual redemption by an admin). */
  | 'REDEEM'
  /** A whole or partial reversal of an earlier transaction. */
  | 'REVERSAL';

/** Whether a transaction was reversed since (REVERSAL transactions point at what they reverse). */
export type TransactionStatus =
  /** Reversed in part: reversedPoints is above 0 and below the transaction's points. */
  | 'PARTIALLY_REVERSED'
  /** Not reversed (also every REVERSAL, EXPIRY and ADJUSTMENT itself). */
  | 'POSTED'
  /** Reversed whole: reversedPoints equals the transaction's points. */
  | 'REVERSED';

/** What a webhook endpoint can subscribe to. Each delivery is a POST of `{ id, type, occurredAt, partnerId, data }` (JSON; `type` is the payload type named in each value), signed per Standard Webhooks (docs/webhooks.md). Only events about the partner's own linked members and its own business; member data in `data` only as far as the member's consents to the partner allow for the endpoint's purpose, at the time of sending. Member erasure is not an event yet (the hub cannot erase members today). */
export type WebhookEventType =
  /** A consent receipt a member granted you reached its expiry time; `data.stopUsing` as for CONSENT_REVOKED. Payload type `consent.expired` (noticed within a minute of the expiry). */
  | 'CONSENT_EXPIRED'
  /** A member linked to you granted you a consent receipt (purpose, data categories, expiry). Payload type `consent.granted`. */
  | 'CONSENT_GRANTED'
  /** A member withdrew a consent receipt it had granted you. `data.stopUsing` lists the purpose and the data categories you must stop using now (those no other active receipt of the member still covers for that purpose). Payload type `consent.revoked`; sent within seconds. */
  | 'CONSENT_REVOKED'
  /** An admin resolved your dispute of a settlement statement line (adjustment points in your favour; 0 = rejected). Payload type `dispute.resolved`. */
  | 'DISPUTE_RESOLVED'
  /** A member's account at your brand took effect (enrolled by you, confirmed by the member, or its reference changed). Payload type `link.confirmed`. */
  | 'LINK_CONFIRMED'
  /** You asked to link an e-mail that already belongs to a member; the member must confirm. Payload type `link.requested`. */
  | 'LINK_REQUESTED'
  /** An offer you co-issue was submitted for approval: your approval is requested (unless you submitted it). Payload type `offer.approval_requested`. */
  | 'OFFER_APPROVAL_REQUESTED'
  /** A co-issuer (you included) approved an offer you co-issue; `data.active` is true when that made it ACTIVE. Payload type `offer.approved`. */
  | 'OFFER_APPROVED'
  /** A member earned points at your brand (an award or an offer bonus). Points only under the member's ACTIVITY consent. Payload type `points.earned`. */
  | 'POINTS_EARNED'
  /** A member redeemed points at your brand. Points only under the member's ACTIVITY consent. Payload type `points.redeemed`. */
  | 'POINTS_REDEEMED'
  /** A redemption or earn at your brand was reversed. Points only under the member's ACTIVITY consent. Payload type `points.reversed`. */
  | 'POINTS_REVERSED'
  /** An admin approved a settlement run; `data.statement` is your statement for its period (money in the coalition currency). Payload type `settlement.run_approved`. */
  | 'SETTLEMENT_RUN_APPROVED';

export type ViewerQueryVariables = Exact<{ [key: string]: never; }>;


export type ViewerQuery = { viewer: { role: Role, purpose: Purpose | null, partner: { id: string, slug: string } | null } };

export type AwardByRefMutationVariables = Exact<{
  input: AwardPointsInput;
}>;


export type AwardByRefMutation = { awardPoints: { id: string, kind: TransactionKind, points64: string, reference: string | null, postedAt: string } };

export type PartnerTransactionsQueryVariables = Exact<{
  filter: PartnerTransactionFilter;
  first?: number | null | undefined;
  after?: string | null | undefined;
}>;


export type PartnerTransactionsQuery = { partnerTransactions: { edges: Array<{ cursor: string, status: TransactionStatus, memberRef: string | null, node: { id: string, kind: TransactionKind, points64: string, reference: string | null, postedAt: string } }>, pageInfo: { hasNextPage: boolean, endCursor: string | null }, totals: { pointsIssued: string, pointsRedeemed: string, pointsReversed: string, transactions: string } } };

export type CreateWebhookEndpointMutationVariables = Exact<{
  input: CreateWebhookEndpointInput;
}>;


export type CreateWebhookEndpointMutation = { createWebhookEndpoint: { secret: string, endpoint: { id: string, url: string, eventTypes: Array<WebhookEventType> } } };

export type DeleteWebhookEndpointMutationVariables = Exact<{
  id: string | number;
}>;


export type DeleteWebhookEndpointMutation = { deleteWebhookEndpoint: { id: string } };


export const ViewerDocument = {"kind":"Document","definitions":[{"kind":"OperationDefinition","operation":"query","name":{"kind":"Name","value":"Viewer"},"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"viewer"},"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"role"}},{"kind":"Field","name":{"kind":"Name","value":"partner"},"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"id"}},{"kind":"Field","name":{"kind":"Name","value":"slug"}}]}},{"kind":"Field","name":{"kind":"Name","value":"purpose"}}]}}]}}]} as unknown as DocumentNode<ViewerQuery, ViewerQueryVariables>;
export const AwardByRefDocument = {"kind":"Document","definitions":[{"kind":"OperationDefinition","operation":"mutation","name":{"kind":"Name","value":"AwardByRef"},"variableDefinitions":[{"kind":"VariableDefinition","variable":{"kind":"Variable","name":{"kind":"Name","value":"input"}},"type":{"kind":"NonNullType","type":{"kind":"NamedType","name":{"kind":"Name","value":"AwardPointsInput"}}}}],"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"awardPoints"},"arguments":[{"kind":"Argument","name":{"kind":"Name","value":"input"},"value":{"kind":"Variable","name":{"kind":"Name","value":"input"}}}],"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"id"}},{"kind":"Field","name":{"kind":"Name","value":"kind"}},{"kind":"Field","name":{"kind":"Name","value":"points64"}},{"kind":"Field","name":{"kind":"Name","value":"reference"}},{"kind":"Field","name":{"kind":"Name","value":"postedAt"}}]}}]}}]} as unknown as DocumentNode<AwardByRefMutation, AwardByRefMutationVariables>;
export const PartnerTransactionsDocument = {"kind":"Document","definitions":[{"kind":"OperationDefinition","operation":"query","name":{"kind":"Name","value":"PartnerTransactions"},"variableDefinitions":[{"kind":"VariableDefinition","variable":{"kind":"Variable","name":{"kind":"Name","value":"filter"}},"type":{"kind":"NonNullType","type":{"kind":"NamedType","name":{"kind":"Name","value":"PartnerTransactionFilter"}}}},{"kind":"VariableDefinition","variable":{"kind":"Variable","name":{"kind":"Name","value":"first"}},"type":{"kind":"NamedType","name":{"kind":"Name","value":"Int"}}},{"kind":"VariableDefinition","variable":{"kind":"Variable","name":{"kind":"Name","value":"after"}},"type":{"kind":"NamedType","name":{"kind":"Name","value":"String"}}}],"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"partnerTransactions"},"arguments":[{"kind":"Argument","name":{"kind":"Name","value":"filter"},"value":{"kind":"Variable","name":{"kind":"Name","value":"filter"}}},{"kind":"Argument","name":{"kind":"Name","value":"first"},"value":{"kind":"Variable","name":{"kind":"Name","value":"first"}}},{"kind":"Argument","name":{"kind":"Name","value":"after"},"value":{"kind":"Variable","name":{"kind":"Name","value":"after"}}}],"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"edges"},"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"cursor"}},{"kind":"Field","name":{"kind":"Name","value":"status"}},{"kind":"Field","name":{"kind":"Name","value":"memberRef"}},{"kind":"Field","name":{"kind":"Name","value":"node"},"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"id"}},{"kind":"Field","name":{"kind":"Name","value":"kind"}},{"kind":"Field","name":{"kind":"Name","value":"points64"}},{"kind":"Field","name":{"kind":"Name","value":"reference"}},{"kind":"Field","name":{"kind":"Name","value":"postedAt"}}]}}]}},{"kind":"Field","name":{"kind":"Name","value":"pageInfo"},"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"hasNextPage"}},{"kind":"Field","name":{"kind":"Name","value":"endCursor"}}]}},{"kind":"Field","name":{"kind":"Name","value":"totals"},"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"pointsIssued"}},{"kind":"Field","name":{"kind":"Name","value":"pointsRedeemed"}},{"kind":"Field","name":{"kind":"Name","value":"pointsReversed"}},{"kind":"Field","name":{"kind":"Name","value":"transactions"}}]}}]}}]}}]} as unknown as DocumentNode<PartnerTransactionsQuery, PartnerTransactionsQueryVariables>;
export const CreateWebhookEndpointDocument = {"kind":"Document","definitions":[{"kind":"OperationDefinition","operation":"mutation","name":{"kind":"Name","value":"CreateWebhookEndpoint"},"variableDefinitions":[{"kind":"VariableDefinition","variable":{"kind":"Variable","name":{"kind":"Name","value":"input"}},"type":{"kind":"NonNullType","type":{"kind":"NamedType","name":{"kind":"Name","value":"CreateWebhookEndpointInput"}}}}],"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"createWebhookEndpoint"},"arguments":[{"kind":"Argument","name":{"kind":"Name","value":"input"},"value":{"kind":"Variable","name":{"kind":"Name","value":"input"}}}],"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"secret"}},{"kind":"Field","name":{"kind":"Name","value":"endpoint"},"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"id"}},{"kind":"Field","name":{"kind":"Name","value":"url"}},{"kind":"Field","name":{"kind":"Name","value":"eventTypes"}}]}}]}}]}}]} as unknown as DocumentNode<CreateWebhookEndpointMutation, CreateWebhookEndpointMutationVariables>;
export const DeleteWebhookEndpointDocument = {"kind":"Document","definitions":[{"kind":"OperationDefinition","operation":"mutation","name":{"kind":"Name","value":"DeleteWebhookEndpoint"},"variableDefinitions":[{"kind":"VariableDefinition","variable":{"kind":"Variable","name":{"kind":"Name","value":"id"}},"type":{"kind":"NonNullType","type":{"kind":"NamedType","name":{"kind":"Name","value":"ID"}}}}],"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"deleteWebhookEndpoint"},"arguments":[{"kind":"Argument","name":{"kind":"Name","value":"id"},"value":{"kind":"Variable","name":{"kind":"Name","value":"id"}}}],"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"id"}}]}}]}}]} as unknown as DocumentNode<DeleteWebhookEndpointMutation, DeleteWebhookEndpointMutationVariables>;