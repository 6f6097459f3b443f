export { createApp, type App, type AppOptions } from './app.ts';
export { loadConfig, repoRoot, type ServerConfig } from './config.ts';
export { createLogger } from './logger.ts';
export { loadJwtSecret, ConfigError } from './secrets.ts';
export { WS_CLOSE_SESSION_REVOKED } from './socket-registry.ts';
export { WS_CLOSE_REVOKED, WS_CLOSE_RIGHTS_CHANGED } from '@tapevision/api';
