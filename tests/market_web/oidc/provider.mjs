// A real OpenID provider (panva/oidc-provider, OpenID certified) on 127.0.0.1, for the
// marketplace's OIDC login test. Its development login form accepts any login name, which
// becomes the subject. argv: port client_id client_secret redirect_uri
// OIDC_PROVIDER_MODULE: file URL of oidc-provider's lib/index.js (installed by .ci/oidc-setup).
const { default: Provider } = await import(process.env.OIDC_PROVIDER_MODULE);
const [port, clientId, clientSecret, redirectUri] = process.argv.slice(2);
const issuer = `http://127.0.0.1:${port}`;
const provider = new Provider(issuer, {
  clients: [
    {
      client_id: clientId,
      client_secret: clientSecret,
      redirect_uris: [redirectUri],
      grant_types: ["authorization_code"],
      response_types: ["code"],
    },
  ],
  claims: { openid: ["sub"], profile: ["name"], email: ["email"] },
  async findAccount(ctx, id) {
    return {
      accountId: id,
      async claims() {
        return { sub: id, name: `OIDC ${id}`, email: `${id}@example.org` };
      },
    };
  },
});
provider.listen(Number(port), "127.0.0.1", () => {
  console.log(`ready ${issuer}`);
});
