// A small, real OpenID Connect provider for Ganymede's tests.
//
// It wraps the npm package `oidc-provider` (v9, an OpenID-certified implementation) so that the tests
// talk to a real provider, not a mock: discovery, JWKS, authorization code flow with PKCE (S256,
// required), client authentication, ID tokens, userinfo and RP-initiated logout are all the package's.
// What this file adds is what a deployment must supply itself:
//   - clients and accounts, read from a JSON file (see README.md);
//   - a real HTML login form that checks the password. The package's built-in `devInteractions`
//     login accepts any username with any password, so it is turned off;
//   - consent granted automatically (no page), as a company's identity provider usually does;
//   - logout and error pages that load nothing from the internet (the defaults import web fonts).
// `conformIdTokenClaims: false` makes the claims of the granted scopes (`groups`, `email`, ...) go into
// the ID token too, not only to userinfo.
//
// Usage: node end2end/oidc/server.mjs --config FILE [--port N]   (port 0 or absent: a free port)
// Listens on 127.0.0.1 only; when ready prints one line: oidc-provider listening on http://127.0.0.1:<port>

import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as http from 'node:http';

// Exit cleanly on SIGTERM/SIGINT, even while still starting (hence the dynamic import below).
let server;
function shutdown() {
  if (!server?.listening) process.exit(0);
  server.close(() => process.exit(0));
  server.closeAllConnections();
}
process.on('SIGTERM', shutdown);
process.on('SIGINT', shutdown);

function arg(name) {
  const i = process.argv.indexOf(name);
  return i > 0 ? process.argv[i + 1] : undefined;
}
const configPath = arg('--config');
if (!configPath) {
  console.error('usage: node server.mjs --config FILE [--port N]');
  process.exit(2);
}
const config = JSON.parse(fs.readFileSync(configPath, 'utf8'));
const port = Number(arg('--port') ?? 0);

// The package prints its notices with console.info; keep stdout for our one ready line.
console.info = console.error;
const { default: Provider } = await import('oidc-provider');

// Account fields that are not passed through as claims of the same name.
const ACCOUNT_FIELDS = new Set(['sub', 'username', 'password', 'email', 'name', 'groups']);
const accounts = config.accounts ?? [];
const extraClaims = [...new Set(accounts.flatMap((a) => Object.keys(a)).filter((k) => !ACCOUNT_FIELDS.has(k)))];

// An account signs in with its `username`, or with its `sub` when it has no username.
const findByLogin = (login) => accounts.find((a) => (a.username ?? a.sub) === login);
const findBySub = (sub) => accounts.find((a) => a.sub === sub);

function claimsOf(account) {
  const claims = { sub: account.sub, name: account.name, groups: account.groups };
  if (account.username !== undefined) claims.preferred_username = account.username;
  if (account.email !== undefined) Object.assign(claims, { email: account.email, email_verified: true });
  for (const key of extraClaims) if (key in account) claims[key] = account[key];
  return claims;
}

const escape = (s) => String(s).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
const STYLE = 'body{font-family:sans-serif;max-width:24em;margin:3em auto}label,input,button{display:block;margin:.4em 0}'
  + '.error{color:#b00020}';
const page = (title, body) => `<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>${escape(title)}</title><style>${STYLE}</style></head>
<body>${body}</body></html>`;

function loginPage(uid, { username = '', error } = {}) {
  return page('Sign in - Test identity provider', `
<h1>Test identity provider: sign in</h1>
${error ? `<p class="error" role="alert">${escape(error)}</p>` : ''}
<form method="post" action="/interaction/${escape(uid)}/login">
  <label for="username">Username</label>
  <input id="username" name="username" type="text" autocomplete="username" value="${escape(username)}" autofocus>
  <label for="password">Password</label>
  <input id="password" name="password" type="password" autocomplete="current-password">
  <button type="submit">Sign in</button>
</form>`);
}

function send(res, status, html) {
  res.writeHead(status, { 'Content-Type': 'text/html; charset=utf-8', 'Cache-Control': 'no-store' });
  res.end(html);
}

async function readForm(req) {
  let body = '';
  for await (const chunk of req) {
    body += chunk;
    if (body.length > 64 * 1024) throw new Error('form body too large');
  }
  return Object.fromEntries(new URLSearchParams(body));
}

// Our interaction routes: GET /interaction/:uid and POST /interaction/:uid/login.
async function interaction(provider, req, res, uid, action) {
  let details;
  try {
    details = await provider.interactionDetails(req, res);
  } catch (err) { // e.g. no interaction cookie, or the interaction expired
    const text = err.error_description ?? err.message;
    return send(res, 400, page('Error', `<h1>Test identity provider: error</h1><p>${escape(text)}</p>`));
  }
  if (details.uid !== uid) return send(res, 400, page('Error', '<p>Interaction mismatch.</p>'));
  const { prompt, params, session } = details;

  if (req.method === 'GET' && prompt.name === 'login') return send(res, 200, loginPage(uid)); // also a reload after an error

  if (req.method === 'POST' && action === 'login' && prompt.name === 'login') {
    const form = await readForm(req);
    const account = findByLogin(form.username ?? '');
    if (!account || typeof account.password !== 'string' || form.password !== account.password) {
      return send(res, 200, loginPage(uid, { username: form.username, error: 'Invalid username or password.' }));
    }
    return provider.interactionFinished(req, res, { login: { accountId: account.sub } });
  }

  if (req.method === 'GET' && !action && prompt.name === 'consent') {
    // Grant whatever was asked for, without showing a page.
    const grant = details.grantId
      ? await provider.Grant.find(details.grantId)
      : new provider.Grant({ accountId: session.accountId, clientId: params.client_id });
    if (prompt.details.missingOIDCScope) grant.addOIDCScope(prompt.details.missingOIDCScope.join(' '));
    if (prompt.details.missingOIDCClaims) grant.addOIDCClaims(prompt.details.missingOIDCClaims);
    for (const [indicator, scopes] of Object.entries(prompt.details.missingResourceScopes ?? {})) {
      grant.addResourceScope(indicator, scopes.join(' '));
    }
    const grantId = await grant.save();
    return provider.interactionFinished(req, res, { consent: { grantId } });
  }

  return send(res, 400, page('Error', `<p>Unexpected ${escape(req.method)} for prompt ${escape(prompt.name)}.</p>`));
}

function buildProvider(issuer) {
  const { privateKey } = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
  const jwk = { ...privateKey.export({ format: 'jwk' }), kid: crypto.randomUUID(), use: 'sig', alg: 'RS256' };
  const clients = (config.clients ?? []).map((c) => ({
    grant_types: ['authorization_code', 'refresh_token'],
    response_types: ['code'],
    token_endpoint_auth_method: 'client_secret_basic',
    ...c,
  }));
  const day = 24 * 60 * 60;

  return new Provider(issuer, {
    clients,
    jwks: { keys: [jwk] },
    cookies: { keys: [crypto.randomBytes(32).toString('base64url')] },
    findAccount: async (_ctx, sub) => {
      const account = findBySub(sub);
      return account && { accountId: sub, claims: async () => claimsOf(account) };
    },
    scopes: ['openid', 'profile', 'email', 'groups', 'offline_access'],
    claims: {
      openid: ['sub'],
      profile: ['preferred_username', 'name', ...extraClaims],
      email: ['email', 'email_verified'],
      groups: ['groups'],
    },
    conformIdTokenClaims: false,
    pkce: { required: () => true }, // v9 supports only S256; there is no `methods` option any more
    clientAuthMethods: ['client_secret_basic', 'client_secret_post'],
    interactions: { url: async (_ctx, i) => `/interaction/${i.uid}` },
    features: {
      devInteractions: { enabled: false },
      rpInitiatedLogout: {
        enabled: true,
        logoutSource: async (ctx, form) => {
          ctx.body = page('Sign out - Test identity provider', `<h1>Test identity provider: sign out?</h1>${form}
<button type="submit" form="op.logoutForm" name="logout" value="yes">Yes, sign me out</button>
<button type="submit" form="op.logoutForm">No, stay signed in</button>`);
        },
        postLogoutSuccessSource: async (ctx) => {
          ctx.body = page('Signed out - Test identity provider',
            '<h1>Test identity provider: signed out</h1><p>You have been signed out.</p>');
        },
      },
    },
    renderError: async (ctx, out) => {
      ctx.type = 'html';
      ctx.body = page('Error - Test identity provider', `<h1>Test identity provider: error</h1>${
        Object.entries(out).map(([k, v]) => `<p><strong>${escape(k)}</strong>: ${escape(v)}</p>`).join('')}`);
    },
    ttl: {
      AccessToken: 3600, AuthorizationCode: 60, IdToken: 3600, RefreshToken: day,
      Interaction: 3600, Session: day, Grant: day,
    },
  });
}

let provider;
let callback;
server = http.createServer((req, res) => {
  if (!provider) return send(res, 503, page('Starting', '<p>Starting.</p>'));
  const m = /^\/interaction\/([^/?]+)(?:\/(login))?(?:\?.*)?$/.exec(req.url);
  if (!m) return callback(req, res);
  interaction(provider, req, res, m[1], m[2]).catch((err) => {
    console.error(err);
    if (!res.headersSent) send(res, 500, page('Error', `<p>${escape(err.message)}</p>`));
  });
});

server.on('error', (err) => {
  console.error(`oidc-provider: ${err.message}`);
  process.exit(1);
});
server.listen(port, '127.0.0.1', () => {
  const issuer = `http://127.0.0.1:${server.address().port}`;
  provider = buildProvider(issuer);
  callback = provider.callback();
  console.log(`oidc-provider listening on ${issuer}`);
});
