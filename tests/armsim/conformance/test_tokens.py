"""armsim identity: the client-credentials endpoint (secrets and federated assertions),
the IMDS endpoint, the shape of issued JWTs, and 401s for missing, expired, foreign and
wrong-audience tokens."""

import base64
import json
import sys
import time
import unittest

from harness import SUB, TENANT, Armsim, rg_path, CLIENT, SECRET

SIM = None
RG_URL = rg_path("tok") + "?api-version=2022-09-01"


def setUpModule():
    global SIM
    SIM = Armsim("--token-ttl", "2", "--throttle", "off", "--client", "%s:%s" % (CLIENT, SECRET),
                 "--client", "other:pw", "--federated", "workload-app")


def tearDownModule():
    SIM.stop()


def claims(tok):
    part = tok.split(".")[1]
    part += "=" * (-len(part) % 4)
    return json.loads(base64.urlsafe_b64decode(part))


def fake_jwt(payload):
    enc = lambda d: base64.urlsafe_b64encode(json.dumps(d).encode()).decode().rstrip("=")
    return "%s.%s.%s" % (enc({"alg": "RS256", "typ": "JWT"}), enc(payload), "c2lnbmF0dXJl")


class ClientCredentials(unittest.TestCase):
    def test_token_shape(self):
        st, _, body = SIM.request("POST", "/%s/oauth2/v2.0/token" % TENANT, form={
            "grant_type": "client_credentials", "client_id": CLIENT, "client_secret": SECRET,
            "scope": "https://management.azure.com/.default"})
        self.assertEqual(st, 200)
        self.assertEqual(body["token_type"], "Bearer")
        self.assertIsInstance(body["expires_in"], int)
        self.assertEqual(body["expires_in"], 2)
        c = claims(body["access_token"])
        for k in ("tid", "oid", "appid", "aud", "iat", "exp", "iss"):
            self.assertIn(k, c)
        self.assertEqual(c["tid"], TENANT)
        self.assertEqual(c["appid"], CLIENT)
        self.assertEqual(c["aud"], "https://management.azure.com")
        self.assertEqual(c["exp"] - c["iat"], 2)
        self.assertEqual(SIM.request("GET", RG_URL, token=body["access_token"])[0], 404)

    def test_wrong_secret_is_401_oauth_error(self):
        st, _, body = SIM.request("POST", "/%s/oauth2/v2.0/token" % TENANT, form={
            "grant_type": "client_credentials", "client_id": CLIENT, "client_secret": "nope",
            "scope": "https://management.azure.com/.default"})
        self.assertEqual(st, 401)
        self.assertEqual(body["error"], "invalid_client")
        self.assertIn("AADSTS7000215", body["error_description"])
        self.assertEqual(body["error_codes"], [7000215])

    def test_unknown_client_and_grant(self):
        st, _, body = SIM.request("POST", "/%s/oauth2/v2.0/token" % TENANT, form={
            "grant_type": "client_credentials", "client_id": "stranger", "client_secret": "x"})
        self.assertEqual(st, 400)
        self.assertEqual(body["error"], "unauthorized_client")
        st, _, body = SIM.request("POST", "/%s/oauth2/v2.0/token" % TENANT, form={
            "grant_type": "password", "client_id": CLIENT})
        self.assertEqual(st, 400)
        self.assertEqual(body["error"], "unsupported_grant_type")

    def test_federated_assertion(self):
        form = {"grant_type": "client_credentials", "client_id": "workload-app",
                "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
                "client_assertion": fake_jwt({"sub": "system:serviceaccount:ns:sa",
                                              "exp": int(time.time()) + 600}),
                "scope": "https://management.azure.com/.default"}
        st, _, body = SIM.request("POST", "/%s/oauth2/v2.0/token" % TENANT, form=form)
        self.assertEqual(st, 200)
        self.assertEqual(claims(body["access_token"])["appid"], "workload-app")
        form["client_assertion"] = "not-a-jwt"
        self.assertEqual(SIM.request("POST", "/%s/oauth2/v2.0/token" % TENANT, form=form)[0], 401)
        form["client_assertion"] = fake_jwt({"exp": int(time.time()) - 10})
        self.assertEqual(SIM.request("POST", "/%s/oauth2/v2.0/token" % TENANT, form=form)[0], 401)


class BearerChecks(unittest.TestCase):
    def test_missing(self):
        st, hdrs, body = SIM.request("GET", RG_URL)
        self.assertEqual(st, 401)
        self.assertEqual(body["error"]["code"], "AuthenticationFailed")
        self.assertIn("Bearer", hdrs["WWW-Authenticate"])

    def test_expired(self):
        tok = SIM.token()
        self.assertEqual(SIM.request("GET", RG_URL, token=tok)[0], 404)
        time.sleep(2.2)
        st, _, body = SIM.request("GET", RG_URL, token=tok)
        self.assertEqual(st, 401)
        self.assertEqual(body["error"]["code"], "ExpiredAuthenticationToken")

    def test_foreign(self):
        other = Armsim("--client", "%s:%s" % (CLIENT, SECRET))
        try:
            foreign = other.token()
        finally:
            other.stop()
        st, _, body = SIM.request("GET", RG_URL, token=foreign)
        self.assertEqual(st, 401)
        self.assertEqual(body["error"]["code"], "InvalidAuthenticationToken")
        forged = fake_jwt({"tid": TENANT, "aud": "https://management.azure.com",
                           "exp": int(time.time()) + 600})
        self.assertEqual(SIM.request("GET", RG_URL, token=forged)[0], 401)
        self.assertEqual(SIM.request("GET", RG_URL, token="garbage")[0], 401)

    def test_wrong_audience(self):
        vault_tok = SIM.token(scope="https://vault.azure.net/.default")
        st, _, body = SIM.request("GET", RG_URL, token=vault_tok)
        self.assertEqual(st, 401)


class Imds(unittest.TestCase):
    def test_needs_metadata_header(self):
        st, _, body = SIM.request("GET", "/metadata/identity/oauth2/token?api-version=2018-02-01"
                                  "&resource=https://management.azure.com/")
        self.assertEqual(st, 400)
        self.assertEqual(body["error"], "invalid_request")

    def test_needs_api_version(self):
        st, _, body = SIM.request("GET", "/metadata/identity/oauth2/token?resource=x",
                                  headers={"Metadata": "true"})
        self.assertEqual(st, 400)
        self.assertEqual(body["error"], "invalid_request")

    def test_system_and_user_assigned(self):
        url = ("/metadata/identity/oauth2/token?api-version=2018-02-01"
               "&resource=https%3A%2F%2Fmanagement.azure.com%2F")
        st, _, body = SIM.request("GET", url, headers={"Metadata": "true"})
        self.assertEqual(st, 200)
        for k in ("expires_in", "expires_on", "ext_expires_in", "not_before"):
            self.assertIsInstance(body[k], str)
            int(body[k])
        self.assertEqual(body["resource"], "https://management.azure.com/")
        self.assertEqual(SIM.request("GET", RG_URL, token=body["access_token"])[0], 404)
        # a user-assigned identity created through ARM, selected by client_id
        tok = SIM.token()
        SIM.request("PUT", RG_URL, body={"location": "westus"}, token=tok)
        st, _, ident = SIM.request("PUT", rg_path("tok") + "/providers/Microsoft.ManagedIdentity/"
                                   "userAssignedIdentities/pool?api-version=2023-01-31",
                                   body={"location": "westus"}, token=tok)
        self.assertEqual(st, 201)
        cid = ident["properties"]["clientId"]
        st, _, body = SIM.request("GET", url + "&client_id=" + cid, headers={"Metadata": "true"})
        self.assertEqual(st, 200)
        self.assertEqual(body["client_id"], cid)
        self.assertEqual(claims(body["access_token"])["oid"], ident["properties"]["principalId"])
        st, _, _ = SIM.request("GET", url + "&client_id=00000000-0000-0000-0000-00000000dead",
                               headers={"Metadata": "true"})
        self.assertEqual(st, 400)

    def test_token_calls_counted_apart(self):
        SIM.request("POST", "/_armsim/stats/reset")
        SIM.token()
        stats = SIM.stats()
        self.assertEqual(stats["requests"]["total"], 0)
        self.assertEqual(stats["token_requests"]["total"], 1)


if __name__ == "__main__":
    unittest.main(argv=sys.argv[:1], verbosity=2, warnings="ignore")
