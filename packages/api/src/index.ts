export { appRouter, type AppRouter } from './root.ts';
export { createCallerFactory } from './trpc.ts';
export type { Meta, Access } from './trpc/core.ts';
export { createContextFactory, createInnerContext, clientIp, type Context, type ContextFactoryOptions, type WebSocketOwner } from './context.ts';
export { defaultSecurityConfig, type SecurityConfig } from './config.ts';
export { systemClock, type ApiDeps, type Clock } from './deps.ts';
export { createAuditRecorder, auditContent, auditedTransaction, type AuditRecorder, type AuditEvent } from './audit/recorder.ts';
export { createAuditSealer, type AuditSealer } from './audit/sealer.ts';
export { createAuditWriter, type AuditWriter, type AuditRow } from './audit/writer.ts';
export { importLegacyAuditRows } from './audit/legacy-import.ts';
export { loadAuditKeyring, signingKey as signingKeyOf, AUDIT_DEV_KEY_FILE, type AuditKeyring } from './audit/keys.ts';
export { sealLegacyChains, type AuditIntegrity } from './audit/integrity.ts';
export { startAuditCheckpoints, readCheckpoints, CHECKPOINT_FILE, type CheckpointWriter, type Checkpoint } from './audit/checkpoints.ts';
export { publishCommittedAudit, AUDIT_COMMITTED_CHANNEL } from './audit/live.ts';
export { startAuditRetention, applyAuditRetention, type RetentionJob } from './audit/retention.ts';
export { verifyAuditLog, type VerifyReport, type AuditBreak } from './audit/verify.ts';
export { redactSecrets, isSecretKey, REDACTED } from './audit/redact.ts';
export { AUDIT_SEVERITY, type AuditAction, type Severity } from './audit/actions.ts';
export { createPasswordHasher, type PasswordHasher } from './services/passwords.ts';
export { createTokenService, type TokenService, type AccessClaims } from './services/tokens.ts';
export { bootstrapAdmin, createUser } from './services/users.ts';
export type { PublicUser, Principal } from './services/principal.ts';
export { SESSION_EVENTS_CHANNEL, isSessionEvent, type SessionEvent } from './services/session-events.ts';
export { PERMISSIONS, ROLES, permissionsFor, type Permission, type Role } from './permissions.ts';
export { storableText, isStorableText } from './schemas/text.ts';
export { REFRESH_COOKIE, REFRESH_COOKIE_PATH } from './services/refresh-cookie.ts';
export type { ErrorShapeData } from './trpc/error-format.ts';
export { createRateLimiter, type RateLimiter, type RateLimitDecision } from './rate-limit/limiter.ts';
export { defaultRateLimitPolicies, type RateLimitPolicies, type RateLimitPolicy } from './rate-limit/policies.ts';
export { createDenialAuditor } from './rate-limit/denial-audit.ts';
export { createLastUsedTracker, verifyApiKey, parseApiKey, API_KEY_CACHE_CHANNEL, type ApiKeyCheck, type ApiKeyView } from './services/api-keys.ts';
export { WS_CLOSE_REVOKED, WS_CLOSE_RIGHTS_CHANGED } from './ws-close-codes.ts';
export type { RateLimitDeps } from './deps.ts';
export { liveSessionIds, findLiveSessionCached, SESSION_CACHE_CHANNEL } from './services/sessions.ts';
export { createHousekeeping, purgeExpiredRows, HOUSEKEEPING_LOCK_KEY, type Housekeeping, type HousekeepingConfig, type PurgeResult } from './services/housekeeping.ts';
export { ENGINE_EVENTS_CHANNEL, getEngineStatus, startEngine, stopEngine, configureEngine } from './services/engine.ts';
export { checkOrderRisk, RISK_RULES, type RiskRule, type RiskContext } from './trading/risk.ts';
export * from './crypto/index.ts';
export { createTradingEventFeed, type TradingEventFeed } from './services/trading-events.ts';
export { createSecurityResponse, type SecurityResponse, type SecurityAlertInput, type SecuritySeverity, type Detection } from './security/response.ts';
export { incidentResponseParts, recordingSecurityResponse, RESPONSE_DURATIONS_MS, type SecurityActionRecorder, type IncidentView, type TimelineView, type IncidentEvent, type IncidentDetail, type IncidentReport } from './security/incidents/index.ts';
export { lockdownResponseParts, LOCKDOWN_EVENTS_CHANNEL, type LockdownEngaged, type LockdownLifted, type LockdownStatus, type LockdownStatusEvent, type LockdownView } from './security/lockdown/index.ts';
export { createOrderMatcher, ORDER_MATCHER_LOCK_KEY, type OrderMatcher } from './services/order-matcher.ts';
export { executeOrder, cancelOrder, type TradingActor } from './services/trading.ts';
export { closePosition } from './services/position-close.ts';
export { createPaperBroker, type PaperBroker } from './trading/paper-broker.ts';
export { tapeMarketData } from './trading/tape-market-data.ts';
export { createMarketTape, MARKET_PRINTS_CHANNEL, type MarketTape } from './services/market-tape.ts';
export { serialiseOnce, serialisedText } from './services/serialised-once.ts';
export { createMarketProducer, MARKET_LEADER_LOCK_KEY, type MarketProducer } from './services/market-producer.ts';
export {
  BOTS_CHANNEL,
  botAad,
  openBotSecrets,
  sealBotSecrets,
  rotateBotSecrets,
  type BotRotationReport,
  toBotView,
  type BotActor,
} from './services/bots.ts';
export { STRATEGIES, STRATEGY_NAMES, strategyFor, type Strategy, type StrategyName } from './trading/strategies/index.ts';
export { createBotRunner, BOT_RUNNER_LOCK_KEY, type BotRunner } from './services/bot-runner.ts';
export { blockResponseParts, createIpGate, parseCidr, IP_BLOCKS_CHANNEL, type IpGate, type Cidr, type BlockView } from './security/blocks/index.ts';
export { raiseSecurityAlert, SECURITY_ALERTS_CHANNEL } from './security/alerts/service.ts';
export { createSecurityWebhookWorker, defaultSecurityWebhookConfig, signWebhook, webhookBody, type SecurityWebhookConfig } from './security/alerts/webhook.ts';
export { DEFAULT_DETECTION_RULES, WATCH_SECONDS, parseDetectionRules, parseDetectionEnabled, createDetector, matchPayload, matchScanner, decodeInput, type DetectionRule, type DetectionRuleName, type DetectionRules, type Detector, type DetectionSink, type DetectorOptions } from './security/detection/index.ts';
