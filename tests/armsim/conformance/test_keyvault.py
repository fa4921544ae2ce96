"""armsim conformance with Debian's Azure SDK: Key Vault vaults (soft delete, purge,
recover), access policies, management-plane secrets, and the secrets data plane."""

import sys
import unittest

from harness import SUB, TENANT, Armsim, client, rg_path, CLIENT, SECRET

from azure.core.exceptions import HttpResponseError, ResourceNotFoundError
from azure.mgmt.resource import ResourceManagementClient
from azure.mgmt.keyvault import KeyVaultManagementClient

SIM = None
RG = "kv-rg"
OID1 = "11111111-1111-1111-1111-111111111111"
OID2 = "22222222-2222-2222-2222-222222222222"


def setUpModule():
    global SIM
    SIM = Armsim("--lro-ms", "150", "--throttle", "off", "--client", "%s:%s" % (CLIENT, SECRET))
    client(ResourceManagementClient, SIM).resource_groups.create_or_update(
        RG, {"location": "westeurope"})


def tearDownModule():
    SIM.stop()


def vault_params(policies=None, **props):
    p = {"tenant_id": TENANT, "sku": {"family": "A", "name": "standard"},
         "access_policies": policies if policies is not None else [
             {"tenant_id": TENANT, "object_id": OID1, "permissions": {"secrets": ["get"]}}]}
    p.update(props)
    return {"location": "westeurope", "tags": {"k": "v"}, "properties": p}


class Vaults(unittest.TestCase):
    def setUp(self):
        self.kv = client(KeyVaultManagementClient, SIM)

    def test_create_poller_and_server_fields(self):
        poller = self.kv.vaults.begin_create_or_update(RG, "KV-Main", vault_params())
        vault = poller.result()
        self.assertEqual(poller.status(), "Succeeded")
        self.assertEqual(vault.properties.provisioning_state, "Succeeded")
        self.assertEqual(vault.name, "KV-Main")
        self.assertEqual(vault.properties.vault_uri, "%s/keyvault/KV-Main/" % SIM.url)
        # server defaults appear on GET
        got = self.kv.vaults.get(RG, "kv-main")
        self.assertTrue(got.properties.enable_soft_delete)
        self.assertEqual(got.properties.soft_delete_retention_in_days, 90)
        self.assertFalse(got.properties.enable_rbac_authorization)
        self.assertIn("KV-Main", [v.name for v in self.kv.vaults.list_by_resource_group(RG)])
        self.assertIn("KV-Main", [v.name for v in self.kv.vaults.list()])
        upd = self.kv.vaults.update(RG, "kv-main", {"tags": {"k": "w"}})
        self.assertEqual(upd.tags, {"k": "w"})

    def test_access_policies_add_replace_remove(self):
        self.kv.vaults.begin_create_or_update(RG, "kv-pol", vault_params()).result()
        add = {"properties": {"access_policies": [
            {"tenant_id": TENANT, "object_id": OID1, "permissions": {"secrets": ["list"]}},
            {"tenant_id": TENANT, "object_id": OID2, "permissions": {"secrets": ["get"],
                                                                     "keys": ["get"]}}]}}
        res = self.kv.vaults.update_access_policy(RG, "kv-pol", "add", add)
        self.assertEqual(res.type, "Microsoft.KeyVault/vaults/accessPolicies")
        pol = {p.object_id: p for p in self.kv.vaults.get(RG, "kv-pol").properties.access_policies}
        self.assertEqual(sorted(pol[OID1].permissions.secrets), ["get", "list"])
        self.assertEqual(pol[OID2].permissions.keys, ["get"])
        rem = {"properties": {"access_policies": [
            {"tenant_id": TENANT, "object_id": OID2, "permissions": {"secrets": ["get"],
                                                                     "keys": ["get"]}}]}}
        self.kv.vaults.update_access_policy(RG, "kv-pol", "remove", rem)
        pol = {p.object_id for p in self.kv.vaults.get(RG, "kv-pol").properties.access_policies}
        self.assertEqual(pol, {OID1})
        rep = {"properties": {"access_policies": [
            {"tenant_id": TENANT, "object_id": OID2, "permissions": {"secrets": ["set"]}}]}}
        self.kv.vaults.update_access_policy(RG, "kv-pol", "replace", rep)
        pol = self.kv.vaults.get(RG, "kv-pol").properties.access_policies
        self.assertEqual([(p.object_id, p.permissions.secrets) for p in pol], [(OID2, ["set"])])

    def test_soft_delete_keeps_name_until_purged(self):
        self.kv.vaults.begin_create_or_update(RG, "kv-soft", vault_params()).result()
        self.kv.vaults.delete(RG, "kv-soft")
        with self.assertRaises(ResourceNotFoundError):
            self.kv.vaults.get(RG, "kv-soft")
        deleted = self.kv.vaults.get_deleted("kv-soft", "westeurope")
        self.assertEqual(deleted.name, "kv-soft")
        self.assertTrue(deleted.properties.vault_id.endswith("/vaults/kv-soft"))
        self.assertIn("kv-soft", [d.name for d in self.kv.vaults.list_deleted()])
        # the name is still taken
        with self.assertRaises(HttpResponseError) as cm:
            self.kv.vaults.begin_create_or_update(RG, "kv-soft", vault_params()).result()
        self.assertEqual(cm.exception.status_code, 409)
        # recover brings the old access policies back
        rec = self.kv.vaults.begin_create_or_update(
            RG, "kv-soft", vault_params(policies=[], create_mode="recover")).result()
        self.assertEqual([p.object_id for p in rec.properties.access_policies], [OID1])
        self.kv.vaults.delete(RG, "kv-soft")
        poller = self.kv.vaults.begin_purge_deleted("kv-soft", "westeurope")
        poller.result()
        self.assertEqual(poller.status(), "Succeeded")
        with self.assertRaises(ResourceNotFoundError):
            self.kv.vaults.get_deleted("kv-soft", "westeurope")
        self.kv.vaults.begin_create_or_update(RG, "kv-soft", vault_params()).result()

    def test_purge_protection_blocks_purge(self):
        self.kv.vaults.begin_create_or_update(
            RG, "kv-prot", vault_params(enable_purge_protection=True)).result()
        self.kv.vaults.delete(RG, "kv-prot")
        with self.assertRaises(HttpResponseError) as cm:
            self.kv.vaults.begin_purge_deleted("kv-prot", "westeurope").result()
        self.assertEqual(cm.exception.status_code, 409)

    def test_group_delete_soft_deletes_vaults(self):
        rm = client(ResourceManagementClient, SIM)
        rm.resource_groups.create_or_update("kv-gone", {"location": "westeurope"})
        self.kv.vaults.begin_create_or_update("kv-gone", "kv-in-gone", vault_params()).result()
        rm.resource_groups.begin_delete("kv-gone").result()
        self.assertEqual(self.kv.vaults.get_deleted("kv-in-gone", "westeurope").name,
                         "kv-in-gone")

    def test_check_name_availability(self):
        self.kv.vaults.begin_create_or_update(RG, "kv-taken", vault_params()).result()
        cna = self.kv.vaults.check_name_availability
        self.assertFalse(cna({"name": "kv-taken", "type": "Microsoft.KeyVault/vaults"})
                         .name_available)
        self.assertTrue(cna({"name": "kv-free", "type": "Microsoft.KeyVault/vaults"})
                        .name_available)
        self.kv.vaults.delete(RG, "kv-taken")
        res = cna({"name": "kv-taken", "type": "Microsoft.KeyVault/vaults"})
        self.assertFalse(res.name_available)
        self.assertEqual(res.reason, "AlreadyExists")

    def test_delete_absent_vault(self):
        self.kv.vaults.delete(RG, "kv-never")  # 204 is accepted


class Secrets(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.kv = client(KeyVaultManagementClient, SIM)
        cls.kv.vaults.begin_create_or_update(RG, "kv-sec", vault_params()).result()

    def test_management_secret_value_is_write_only(self):
        s = self.kv.secrets.create_or_update(RG, "kv-sec", "db-password",
                                             {"properties": {"value": "hunter2",
                                                             "content_type": "text/plain"}})
        self.assertIsNone(s.properties.value)
        self.assertEqual(s.properties.secret_uri, "%s/keyvault/kv-sec/secrets/db-password" % SIM.url)
        self.assertTrue(s.properties.secret_uri_with_version.startswith(s.properties.secret_uri + "/"))
        got = self.kv.secrets.get(RG, "kv-sec", "db-password")
        self.assertIsNone(got.properties.value)
        self.assertEqual(got.properties.content_type, "text/plain")
        self.assertIn("db-password", [x.name for x in self.kv.secrets.list(RG, "kv-sec")])
        status, _, raw = SIM.request("GET", rg_path(RG) + "/providers/Microsoft.KeyVault/vaults/"
                                     "kv-sec/secrets/db-password?api-version=2022-07-01",
                                     token=SIM.token())
        self.assertNotIn("hunter2", str(raw))
        # the data plane reads the value
        vt = SIM.token(scope="https://vault.azure.net/.default")
        status, _, bundle = SIM.request("GET", "/keyvault/kv-sec/secrets/db-password?api-version=7.4",
                                        token=vt)
        self.assertEqual(status, 200)
        self.assertEqual(bundle["value"], "hunter2")
        self.assertEqual(bundle["id"], got.properties.secret_uri_with_version)

    def test_secret_needs_vault(self):
        with self.assertRaises(ResourceNotFoundError) as cm:
            self.kv.secrets.create_or_update(RG, "kv-none", "x", {"properties": {"value": "v"}})
        self.assertEqual(cm.exception.error.code, "ParentResourceNotFound")


class DataPlane(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        client(KeyVaultManagementClient, SIM).vaults.begin_create_or_update(
            RG, "kv-data", vault_params()).result()

    def test_put_get_versions(self):
        vt = SIM.token(scope="https://vault.azure.net/.default")
        base = "/keyvault/kv-data/secrets/join?api-version=7.4"
        st, _, v1 = SIM.request("PUT", base, body={"value": "one"}, token=vt)
        self.assertEqual(st, 200)
        st, _, v2 = SIM.request("PUT", base, body={"value": "two", "contentType": "x"}, token=vt)
        self.assertEqual(SIM.request("GET", base, token=vt)[2]["value"], "two")
        version = v1["id"].rsplit("/", 1)[1]
        old = SIM.request("GET", "/keyvault/kv-data/secrets/join/%s?api-version=7.4" % version,
                          token=vt)[2]
        self.assertEqual(old["value"], "one")
        self.assertTrue(old["attributes"]["enabled"])
        self.assertIsInstance(old["attributes"]["created"], int)
        # the management plane sees the secret, never its value
        kv = client(KeyVaultManagementClient, SIM)
        mgmt = kv.secrets.get(RG, "kv-data", "join")
        self.assertEqual(mgmt.properties.secret_uri_with_version, v2["id"])
        self.assertIsNone(mgmt.properties.value)
        before = SIM.stats()["keyvault_requests"]["total"]
        st, _, err = SIM.request("GET", "/keyvault/kv-data/secrets/nope?api-version=7.4", token=vt)
        self.assertEqual(st, 404)
        kvs = SIM.stats()["keyvault_requests"]
        self.assertEqual(kvs["total"], before + 1)
        self.assertGreaterEqual(kvs["by_status"]["404"], 1)
        self.assertEqual(err["error"]["code"], "SecretNotFound")

    def test_needs_vault_token(self):
        st, hdrs, _ = SIM.request("GET", "/keyvault/kv-data/secrets/join?api-version=7.4")
        self.assertEqual(st, 401)
        self.assertIn("resource=\"https://vault.azure.net\"", hdrs.get("WWW-Authenticate", ""))
        st, _, _ = SIM.request("GET", "/keyvault/kv-data/secrets/join?api-version=7.4",
                               token=SIM.token())
        self.assertEqual(st, 401)


class DataPlaneAuthz(unittest.TestCase):
    """With --kv-authz the data plane checks access policies, or RBAC roles."""

    def test_access_policies_and_rbac(self):
        import base64
        import json
        from azure.mgmt.authorization import AuthorizationManagementClient
        sim = Armsim("--kv-authz", "--throttle", "off", "--lro-ms", "50",
                     "--client", "%s:%s" % (CLIENT, SECRET), "--client", "other:pw")
        try:
            vt = sim.token(scope="https://vault.azure.net/.default")
            part = vt.split(".")[1]
            oid = json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))["oid"]
            client(ResourceManagementClient, sim).resource_groups.create_or_update(
                "authz", {"location": "westeurope"})
            kv = client(KeyVaultManagementClient, sim)
            kv.vaults.begin_create_or_update("authz", "kv-pol", vault_params(policies=[
                {"tenant_id": TENANT, "object_id": oid, "permissions": {"secrets": ["get"]}}]))\
                .result()
            kv.secrets.create_or_update("authz", "kv-pol", "s", {"properties": {"value": "v1"}})
            url = "/keyvault/kv-pol/secrets/s?api-version=7.4"
            self.assertEqual(sim.request("GET", url, token=vt)[2]["value"], "v1")
            st, _, err = sim.request("PUT", url, body={"value": "v2"}, token=vt)
            self.assertEqual(st, 403)
            self.assertEqual(err["error"]["innererror"]["code"], "AccessDenied")
            stranger = sim.token(client="other", secret="pw",
                                 scope="https://vault.azure.net/.default")
            self.assertEqual(sim.request("GET", url, token=stranger)[0], 403)

            kv.vaults.begin_create_or_update("authz", "kv-rbac", vault_params(
                enable_rbac_authorization=True)).result()
            kv.secrets.create_or_update("authz", "kv-rbac", "s", {"properties": {"value": "r1"}})
            url = "/keyvault/kv-rbac/secrets/s?api-version=7.4"
            st, _, err = sim.request("GET", url, token=vt)
            self.assertEqual(st, 403)
            self.assertEqual(err["error"]["innererror"]["code"], "ForbiddenByRbac")
            ra = client(AuthorizationManagementClient, sim).role_assignments
            role = "/subscriptions/%s/providers/Microsoft.Authorization/roleDefinitions/%s"
            ra.create(rg_path("authz"), "9c1d0000-0000-4000-8000-000000000001",
                      {"role_definition_id": role % (SUB, "4633458b-17de-408a-b874-0445c86b69e6"),
                       "principal_id": oid})
            self.assertEqual(sim.request("GET", url, token=vt)[2]["value"], "r1")
            self.assertEqual(sim.request("PUT", url, body={"value": "r2"}, token=vt)[0], 403)
            vault_id = kv.vaults.get("authz", "kv-rbac").id
            ra.create(vault_id, "9c1d0000-0000-4000-8000-000000000002",
                      {"role_definition_id": role % (SUB, "b86a8fe4-44ce-4948-aee5-eccb2c155cd7"),
                       "principal_id": oid})
            self.assertEqual(sim.request("PUT", url, body={"value": "r2"}, token=vt)[0], 200)
        finally:
            sim.stop()


if __name__ == "__main__":
    unittest.main(argv=sys.argv[:1], verbosity=2, warnings="ignore")
