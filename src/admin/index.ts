export { createAdmin, type AdminParts } from './factory.ts';
export { createAdminServer, OPENAPI_PATH, type AdminServer, type AdminServerDeps } from './server.ts';
export { createAuthenticator, TOKEN_PRINCIPAL, type Authenticator, type AuthResult } from './auth.ts';
export { adminSchema, type AdminConfig, type OidcConfig } from './config.ts';
export { AdminHttpError, badRequest, notFound, errorBody, type AdminErrorBody } from './errors.ts';
export { buildOpenApiDocument, errorResponse, jsonBody, jsonResponse } from './openapi.ts';
export { createRulesRoutes } from './rules-routes.ts';
export { createHealthRoute } from './health-route.ts';
export type { AdminRequest, AdminResponse, AdminRoute } from './route.ts';
