// A real OpenID Connect provider (the `oidc-provider` package) for the
// black-box suite. Usage: node oidc-provider.mjs <townhall-base-url>
// Prints "READY <issuer>" once listening on a free loopback port.
//
// Clients (client_secret = "secret-" + client_id), one per Townhall
// provider name, redirecting to <base>/auth/oidc/<name>/callback:
//   townhall           -> "city":     a well-behaved provider
//   townhall-expired   -> "expired":  re-signs ID tokens already expired
//   townhall-wrongaud  -> "wrongaud": re-signs ID tokens for another audience
//   townhall-badnonce  -> "badnonce": re-signs ID tokens with another nonce
// The tampered tokens are signed with the provider's real key, so only the
// claim checks can catch them.
// Accounts: any login works; `<login>@riverbend.example`; groups:
//   alice -> ["pw-crew"], bob -> ["admins"], others -> [].
import Provider from 'oidc-provider';
import * as jose from 'jose';

const base = process.argv[2];
if (!base) {
  console.error('usage: node oidc-provider.mjs <townhall-base-url>');
  process.exit(2);
}

const { privateKey } = await jose.generateKeyPair('RS256', { extractable: true });
const jwk = { ...(await jose.exportJWK(privateKey)), kid: 'townhall-test', use: 'sig', alg: 'RS256' };

const modes = {
  townhall: ['city', 'normal'],
  'townhall-expired': ['expired', 'expired'],
  'townhall-wrongaud': ['wrongaud', 'wrongaud'],
  'townhall-badnonce': ['badnonce', 'badnonce'],
};
const groups = { alice: ['pw-crew'], bob: ['admins'] };

const server = (await import('node:http')).createServer();
await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
const issuer = `http://127.0.0.1:${server.address().port}`;

const provider = new Provider(issuer, {
  clients: Object.entries(modes).map(([id, [name]]) => ({
    client_id: id,
    client_secret: `secret-${id}`,
    redirect_uris: [`${base}/auth/oidc/${name}/callback`],
    grant_types: ['authorization_code'],
    response_types: ['code'],
  })),
  jwks: { keys: [jwk] },
  async findAccount(ctx, id) {
    return {
      accountId: id,
      async claims() {
        return {
          sub: id,
          email: `${id}@riverbend.example`,
          email_verified: !id.startsWith('unverified'),
          name: id,
          groups: groups[id] ?? [],
        };
      },
    };
  },
  claims: { openid: ['sub'], email: ['email', 'email_verified'], profile: ['name'], groups: ['groups'] },
  scopes: ['openid', 'email', 'profile', 'groups'],
  conformIdTokenClaims: false,
  pkce: { required: () => true },
  features: { devInteractions: { enabled: true } },
});
provider.proxy = false;

provider.use(async (ctx, next) => {
  await next();
  if (ctx.path !== '/token' || !ctx.body || !ctx.body.id_token) return;
  const clientId = ctx.oidc?.client?.clientId;
  const mode = modes[clientId]?.[1] ?? 'normal';
  if (mode === 'normal') return;
  const claims = jose.decodeJwt(ctx.body.id_token);
  const now = Math.floor(Date.now() / 1000);
  if (mode === 'expired') {
    claims.iat = now - 7200;
    claims.exp = now - 3600;
  } else if (mode === 'wrongaud') {
    claims.aud = 'someone-else';
  } else if (mode === 'badnonce') {
    claims.nonce = 'forged-nonce';
  }
  ctx.body = {
    ...ctx.body,
    id_token: await new jose.SignJWT(claims).setProtectedHeader({ alg: 'RS256', kid: 'townhall-test' }).sign(privateKey),
  };
});

server.on('request', provider.callback());
console.log(`READY ${issuer}`);
