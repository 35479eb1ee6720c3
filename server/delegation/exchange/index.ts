/** `POST /token`, the RFC 8693 token exchange of the delegation endpoint (docs/delegation.md). */
export { tokenExchangeHandler } from "./token-exchange-handler.js";
export { TokenExchange, type TokenExchangeDeps, type IssuedTokenAnswer } from "./token-exchange.js";
export { UserTokenIssuers, IssuerKeysError, type IssuerKeysErrorCode } from "./user-token-issuers.js";
export { TokenExchangeError, type TokenExchangeErrorCode, type OAuthErrorCode } from "./exchange-error.js";
export type { EntriesOf } from "./actor-token.js";
