// Peer OpenID Provider for bench/token-endpoint.sh: panva oidc-provider made to look like
// Entra v2 (ENTRA=<tenant> mounts /<tenant>/oauth2/v2.0/token etc.). Verbatim from
// shared/reference/testbeds.md appendix A. Env: HOST (loopback only), PORT, FORMAT=jwt|opaque,
// ALG=RS256|ES256|EdDSA|PS256, ENTRA, PREFIX, TLS_CERT/TLS_KEY, CLIENT_JWKS, DEV_INTERACTIONS.
// Clients: bench / bench-secret (client_secret_basic), bench-post / bench-secret (client_secret_post).
import http from 'node:http'; import https from 'node:https'; import fs from 'node:fs';
import { generateKeyPair, exportJWK } from 'jose';
import Provider from 'oidc-provider';
const HOST = process.env.HOST || '127.0.0.1'; if (!HOST.startsWith('127.')) throw new Error('loopback only');
const PORT = Number(process.env.PORT || 3000), FORMAT = process.env.FORMAT || 'jwt', ALG = process.env.ALG || 'RS256';
const PREFIX = process.env.PREFIX || '', TLS = !!process.env.TLS_CERT, ENTRA = process.env.ENTRA || '';
const ISSUER = ENTRA ? `https://${HOST}:${PORT}/${ENTRA}/v2.0` : `${TLS ? 'https' : 'http'}://${HOST}:${PORT}${PREFIX}`;
async function key(alg) {
  const opts = { extractable: true };
  if (alg === 'EdDSA') opts.crv = 'Ed25519';
  if (alg.startsWith('RS') || alg.startsWith('PS')) opts.modulusLength = 2048;
  const { privateKey } = await generateKeyPair(alg, opts);
  return { ...(await exportJWK(privateKey)), kid: `k-${alg}`, use: 'sig', alg };
}
const keys = [await key(ALG)]; if (ALG !== 'RS256') keys.push(await key('RS256'));
const RESOURCE = 'urn:bench:api';
const provider = new Provider(ISSUER, {
  clients: [
    { client_id: 'bench', client_secret: 'bench-secret', grant_types: ['client_credentials'], redirect_uris: [], response_types: [], token_endpoint_auth_method: 'client_secret_basic' },
    { client_id: 'bench-post', client_secret: 'bench-secret', grant_types: ['client_credentials'], redirect_uris: [], response_types: [], token_endpoint_auth_method: 'client_secret_post' },
    { client_id: 'web', grant_types: ['authorization_code'], response_types: ['code'], redirect_uris: ['http://127.0.0.1:8700/cb'], token_endpoint_auth_method: 'none' },
    ...(process.env.CLIENT_JWKS ? [{ client_id: 'bench-pkjwt', grant_types: ['client_credentials'], redirect_uris: [], response_types: [],
      token_endpoint_auth_method: 'private_key_jwt', jwks: JSON.parse(fs.readFileSync(process.env.CLIENT_JWKS, 'utf8')) }] : []),
  ],
  jwks: { keys },
  ...(ENTRA ? { routes: { token: '/oauth2/v2.0/token', authorization: '/oauth2/v2.0/authorize', jwks: '/discovery/v2.0/keys' } } : {}),
  cookies: { keys: ['bench-cookie-key-0123456789'] },
  findAccount: async (ctx, sub) => ({ accountId: sub, claims: async () => ({ sub }) }),
  features: {
    devInteractions: { enabled: process.env.DEV_INTERACTIONS === '1' },
    clientCredentials: { enabled: true }, introspection: { enabled: true },
    resourceIndicators: { enabled: true, defaultResource: async () => RESOURCE, useGrantedResource: async () => true,
      getResourceServerInfo: async (ctx, ri) => {
        if (ri !== RESOURCE) throw new Provider.errors.InvalidTarget();
        return { scope: `api.read api.write ${RESOURCE}/.default`, audience: RESOURCE, accessTokenTTL: 3600,
                 accessTokenFormat: FORMAT, ...(FORMAT === 'jwt' ? { jwt: { sign: { alg: ALG } } } : {}) };
      } },
  },
});
const cb = provider.callback();
const handler = (req, res) => {
  if (ENTRA) {            // /<t>/v2.0/.well-known/* -> /.well-known/*, /<t>/x -> /x ; mount path = /<t>
    const t = `/${ENTRA}`; if (!req.url.startsWith(t + '/')) { res.statusCode = 404; return res.end(); }
    let rest = req.url.slice(t.length); if (rest.startsWith('/v2.0/.well-known/')) rest = rest.slice(5);
    req.originalUrl = t + rest; req.url = rest;   // oidc-provider derives its mountPath from originalUrl vs url
  } else if (PREFIX) { if (!req.url.startsWith(PREFIX)) { res.statusCode = 404; return res.end(); }
    req.originalUrl = req.url; req.url = req.url.slice(PREFIX.length) || '/'; }
  return cb(req, res);
};
const server = TLS ? https.createServer({ cert: fs.readFileSync(process.env.TLS_CERT), key: fs.readFileSync(process.env.TLS_KEY) }, handler)
                   : http.createServer(handler);
server.keepAliveTimeout = 65000;
server.listen(PORT, HOST, () => console.log(`oidc-provider ${FORMAT}/${ALG} issuer=${ISSUER} pid=${process.pid}`));
