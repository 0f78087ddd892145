// A real OpenID Connect provider (panva/oidc-provider) for loggvakt's single sign-on tests
// (tests/it/sso_oidc.rs). Not for production: accounts, client and keys come from the
// environment of the test that starts it.
//
//   node provider.mjs PORT            (or OIDC_PORT)
//
// Environment:
//   OIDC_CLIENT_ID, OIDC_CLIENT_SECRET, OIDC_REDIRECT_URI   the relying party (loggvakt)
//   OIDC_ACCOUNTS   JSON: {"login": {"password": "…", "claims": {"name": …, "groups": […]}}}
//   OIDC_NOW        RFC 3339: the provider's clock starts there (as `loggvakt --now` does),
//                   so that the tokens it issues are current for a server with a pinned clock
//
// Besides the standard endpoints it serves:
//   GET  /interaction/:uid         a minimal login form (#login, #password, #submit)
//   POST /interaction/:uid/login   checks the password and finishes the login
//   POST /__test/tamper?mode=M     the next token response's ID token is re-signed with the
//                                  provider's own key after a change: `wrong-audience` (aud is
//                                  another registered client) or `expired` (issued two hours
//                                  ago, expired one hour ago). Validly signed either way, so
//                                  only the relying party's checks can refuse it.
// Consent is implied (a first-party client): every requested scope is granted.

import { createServer } from 'node:http';

import { SignJWT, decodeJwt, decodeProtectedHeader, exportJWK, generateKeyPair } from 'jose';
import Provider from 'oidc-provider';

const port = Number(process.env.OIDC_PORT ?? process.argv[2]);
if (!Number.isInteger(port) || port <= 0) {
  console.error('usage: node provider.mjs PORT');
  process.exit(2);
}

if (process.env.OIDC_NOW) {
  const start = Date.parse(process.env.OIDC_NOW);
  if (Number.isNaN(start)) {
    console.error(`OIDC_NOW is not a time: ${process.env.OIDC_NOW}`);
    process.exit(2);
  }
  const realNow = Date.now.bind(Date);
  const offset = start - realNow();
  // oidc-provider takes every iat/exp from Date.now() (helpers/epoch_time.js).
  Date.now = () => realNow() + offset;
}

const clientId = process.env.OIDC_CLIENT_ID ?? 'loggvakt';
const clientSecret = process.env.OIDC_CLIENT_SECRET ?? 'hemligt';
const redirectUri = process.env.OIDC_REDIRECT_URI ?? 'http://127.0.0.1:8480/login/oidc/callback';
const accounts = JSON.parse(process.env.OIDC_ACCOUNTS ?? '{}');
const OTHER_CLIENT = 'annan-tjanst';

const { privateKey } = await generateKeyPair('RS256', { extractable: true });
const jwk = { ...(await exportJWK(privateKey)), kid: 'test-key-1', alg: 'RS256', use: 'sig' };

const issuer = `http://127.0.0.1:${port}`;
const provider = new Provider(issuer, {
  clients: [
    {
      client_id: clientId,
      client_secret: clientSecret,
      redirect_uris: [redirectUri],
      grant_types: ['authorization_code'],
      response_types: ['code'],
    },
    {
      // The audience of a `wrong-audience` token: another service of the same organisation.
      client_id: OTHER_CLIENT,
      client_secret: 'en-annan-hemlighet',
      redirect_uris: ['http://127.0.0.1:1/callback'],
      grant_types: ['authorization_code'],
      response_types: ['code'],
    },
  ],
  jwks: { keys: [jwk] },
  cookies: { keys: ['loggvakt-test-provider-cookie-key'] },
  scopes: ['openid', 'profile', 'email', 'groups'],
  claims: {
    openid: ['sub'],
    profile: ['name', 'preferred_username'],
    email: ['email'],
    groups: ['groups'],
  },
  // The claims go into the ID token itself, not only to the userinfo endpoint.
  conformIdTokenClaims: false,
  pkce: { required: () => true },
  features: { devInteractions: { enabled: false } },
  interactions: { url: (_ctx, interaction) => `/interaction/${interaction.uid}` },
  async findAccount(_ctx, id) {
    const account = accounts[id];
    if (!account) return undefined;
    return {
      accountId: id,
      async claims() {
        return { sub: id, preferred_username: id, ...account.claims };
      },
    };
  },
  async loadExistingGrant(ctx) {
    const grant = new ctx.oidc.provider.Grant({
      clientId: ctx.oidc.client.clientId,
      accountId: ctx.oidc.session.accountId,
    });
    grant.addOIDCScope([...ctx.oidc.requestParamScopes].join(' '));
    await grant.save();
    return grant;
  },
});

let tamper = null;

async function resign(idToken, mode) {
  const header = decodeProtectedHeader(idToken);
  const claims = decodeJwt(idToken);
  if (mode === 'wrong-audience') {
    claims.aud = OTHER_CLIENT;
    delete claims.azp;
  } else if (mode === 'expired') {
    claims.iat -= 7200;
    claims.exp = claims.iat + 3600;
  }
  return new SignJWT(claims).setProtectedHeader({ alg: header.alg, kid: header.kid }).sign(privateKey);
}

function escapeHtml(s) {
  return String(s).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

async function readForm(req) {
  let body = '';
  for await (const chunk of req) {
    body += chunk;
    if (body.length > 10_000) throw new Error('form too large');
  }
  return new URLSearchParams(body);
}

provider.use(async (ctx, next) => {
  if (ctx.path === '/__test/tamper' && ctx.method === 'POST') {
    tamper = ctx.query.mode ?? null;
    ctx.body = { tamper };
    return;
  }
  const login = ctx.path.match(/^\/interaction\/([\w-]+)(\/login)?$/);
  if (login) {
    const details = await provider.interactionDetails(ctx.req, ctx.res);
    if (login[2] && ctx.method === 'POST') {
      const form = await readForm(ctx.req);
      const id = form.get('login') ?? '';
      const account = accounts[id];
      if (!account || account.password !== form.get('password')) {
        ctx.status = 200;
        ctx.type = 'html';
        ctx.body = loginPage(details.uid, 'Fel användarnamn eller lösenord.');
        return;
      }
      const returnTo = await provider.interactionResult(
        ctx.req,
        ctx.res,
        { login: { accountId: id } },
        { mergeWithLastSubmission: false },
      );
      ctx.status = 303;
      ctx.redirect(returnTo);
      return;
    }
    ctx.type = 'html';
    ctx.body = loginPage(details.uid, null);
    return;
  }
  await next();
  if (ctx.path === '/token' && tamper && ctx.status === 200 && ctx.body?.id_token) {
    const mode = tamper;
    tamper = null;
    ctx.body = { ...ctx.body, id_token: await resign(ctx.body.id_token, mode) };
  }
});

function loginPage(uid, error) {
  return `<!doctype html><html lang="sv"><meta charset="utf-8"><title>Testleverantör</title>
<body><h1>Organisationens inloggning (test)</h1>
${error ? `<p id="error">${escapeHtml(error)}</p>` : ''}
<form method="post" action="/interaction/${escapeHtml(uid)}/login">
<label>Användarnamn <input id="login" name="login" autocomplete="off"></label>
<label>Lösenord <input id="password" name="password" type="password"></label>
<button id="submit" type="submit">Logga in</button>
</form></body></html>`;
}

const server = createServer(provider.callback());
server.listen(port, '127.0.0.1', () => {
  console.log(`oidc test provider listening on ${issuer}`);
});
for (const signal of ['SIGTERM', 'SIGINT']) {
  process.on(signal, () => server.close(() => process.exit(0)));
}
