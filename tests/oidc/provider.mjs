// The OpenID provider tests/test_sso.py signs in with: panva's certified oidc-provider, configured as a
// hospital's provider would be for Visitt (PKCE required, pushed authorization requests, RP-initiated
// logout, private_key_jwt and client_secret_basic clients), with the development login form (any
// password) for the test users.
//
//   node provider.mjs <config.json>     prints "ready <issuer>" once it listens
//
// config.json: {"issuer", "port", "clients": [client metadata], "users": {login: claims}}.
//
// A few faults the tests switch on over POST /-/... (never part of a real provider):
//   /-/rotate           new signing key: published first in the JWKS, used for every ID token from now on
//   /-/clock?offset=s   the provider's clock runs s seconds off (its ID tokens are issued in the past)
//   /-/fault?token=...  "tamper": the ID token's payload altered after signing; "forge": signed again by a
//                       key the provider does not publish; "": as issued

import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import { promisify } from 'node:util';

import Provider from 'oidc-provider';

const config = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));
const HPR = 'helseid://claims/hpr/hpr_number';
const realNow = Date.now;
let offsetSeconds = 0;
Date.now = () => realNow() + offsetSeconds * 1000;
let tokenFault = '';

const generate = promisify(crypto.generateKeyPair);

async function signingKey() {
  const { privateKey } = await generate('rsa', { modulusLength: 2048 });
  return { ...privateKey.export({ format: 'jwk' }), kid: crypto.randomUUID(), use: 'sig', alg: 'RS256' };
}

// made at the start, in parallel: RSA key generation takes seconds on a busy machine
let [signing, nextKey, foreign] = await Promise.all([signingKey(), signingKey(), generate('rsa', { modulusLength: 2048 })]);
let keys = [signing];
const foreignKey = foreign.privateKey;

function alter(jwt) {
  const [header, payload, signature] = jwt.split('.');
  if (tokenFault === 'tamper') {
    const claims = JSON.parse(Buffer.from(payload, 'base64url'));
    claims.sub = 'someone-else';
    return [header, Buffer.from(JSON.stringify(claims)).toString('base64url'), signature].join('.');
  }
  const forged = { ...JSON.parse(Buffer.from(header, 'base64url')), kid: 'not-published' };
  const input = `${Buffer.from(JSON.stringify(forged)).toString('base64url')}.${payload}`;
  return `${input}.${crypto.sign('sha256', Buffer.from(input), foreignKey).toString('base64url')}`;
}

function build() {
  const provider = new Provider(config.issuer, {
    clients: config.clients,
    jwks: { keys },
    async findAccount(ctx, id) {
      const user = config.users[id];
      return user && { accountId: id, claims: async () => ({ sub: id, ...user }) };
    },
    claims: {
      openid: ['sub'], email: ['email', 'email_verified'], profile: ['name'], hpr: [HPR], department: ['department'],
    },
    features: {
      devInteractions: { enabled: true },
      pushedAuthorizationRequests: { enabled: true },
      rpInitiatedLogout: { enabled: true },
    },
    pkce: { required: () => true },
    // Visitt is the hospital's own application: no consent screen (the documented first-party recipe)
    async loadExistingGrant(ctx) {
      const grantId = ctx.oidc.result?.consent?.grantId || ctx.oidc.session.grantIdFor(ctx.oidc.client.clientId);
      if (grantId) return ctx.oidc.provider.Grant.find(grantId);
      const grant = new ctx.oidc.provider.Grant({ clientId: ctx.oidc.client.clientId, accountId: ctx.oidc.session.accountId });
      grant.addOIDCScope(ctx.oidc.requestParamScopes ? [...ctx.oidc.requestParamScopes].join(' ') : 'openid');
      await grant.save();
      return grant;
    },
    ttl: {
      AccessToken: 600, AuthorizationCode: 60, IdToken: 600, Interaction: 3600, Grant: 3600, Session: 3600,
      PushedAuthorizationRequest: 60,
    },
    cookies: { keys: [crypto.randomBytes(32).toString('hex')] },
  });
  provider.use(async (ctx, next) => {
    await next();
    if (tokenFault && ctx.path === '/token' && ctx.body?.id_token) {
      ctx.body = { ...ctx.body, id_token: alter(ctx.body.id_token) };
    }
  });
  return provider.callback();
}

let handle = build();

function control(request, response) {
  const url = new URL(request.url, config.issuer);
  if (url.pathname === '/-/rotate') {
    keys = [nextKey, ...keys];
    handle = build();
    signingKey().then((key) => { nextKey = key; });
  } else if (url.pathname === '/-/clock') {
    offsetSeconds = Number(url.searchParams.get('offset') || 0);
  } else if (url.pathname === '/-/fault') {
    tokenFault = url.searchParams.get('token') || '';
  } else {
    response.writeHead(404).end();
    return;
  }
  response.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ kid: keys[0].kid }));
}

const server = http.createServer((request, response) => {
  if (request.method === 'POST' && request.url.startsWith('/-/')) control(request, response);
  else handle(request, response);
});
server.listen(config.port, '127.0.0.1', () => console.log(`ready ${config.issuer}`));
process.on('SIGTERM', () => server.close(() => process.exit(0)));
