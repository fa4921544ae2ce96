"""armsim conformance with Debian's Azure SDK: resource groups, user-assigned identities,
generic resource lists, providers, usages, paging and the ARM error classes."""

import sys
import unittest

from harness import SUB, TENANT, Armsim, client, rg_path, CLIENT, SECRET

from azure.core.exceptions import (ClientAuthenticationError, HttpResponseError,
                                   ResourceNotFoundError)
from azure.mgmt.resource import ResourceManagementClient
from azure.mgmt.msi import ManagedServiceIdentityClient
from azure.mgmt.compute import ComputeManagementClient

SIM = None


def setUpModule():
    global SIM
    SIM = Armsim("--lro-ms", "200", "--page-size", "3", "--throttle", "off",
                 "--client", "%s:%s" % (CLIENT, SECRET))


def tearDownModule():
    SIM.stop()


class ResourceGroups(unittest.TestCase):
    def setUp(self):
        self.rm = client(ResourceManagementClient, SIM)

    def test_create_get_update_list_delete(self):
        rg = self.rm.resource_groups.create_or_update("Core-RG1", {"location": "West US",
                                                                    "tags": {"team": "ds"}})
        self.assertEqual(rg.name, "Core-RG1")
        self.assertEqual(rg.location, "westus")
        self.assertEqual(rg.id, "/subscriptions/%s/resourceGroups/Core-RG1" % SUB)
        self.assertEqual(rg.properties.provisioning_state, "Succeeded")
        # case-insensitive lookup keeps the creation casing
        got = self.rm.resource_groups.get("core-rg1")
        self.assertEqual(got.name, "Core-RG1")
        self.assertTrue(self.rm.resource_groups.check_existence("CORE-rg1"))
        self.assertFalse(self.rm.resource_groups.check_existence("core-absent"))
        upd = self.rm.resource_groups.update("core-rg1", {"tags": {"team": "ml"}})
        self.assertEqual(upd.tags, {"team": "ml"})
        # re-PUT in another location is refused
        with self.assertRaises(HttpResponseError) as cm:
            self.rm.resource_groups.create_or_update("core-rg1", {"location": "eastus"})
        self.assertEqual(cm.exception.status_code, 409)
        self.assertEqual(cm.exception.error.code, "InvalidResourceGroupLocation")
        names = [g.name for g in self.rm.resource_groups.list()]
        self.assertIn("Core-RG1", names)
        self.rm.resource_groups.begin_delete("core-rg1").result()
        with self.assertRaises(ResourceNotFoundError) as cm:
            self.rm.resource_groups.get("core-rg1")
        self.assertEqual(cm.exception.error.code, "ResourceGroupNotFound")

    def test_delete_is_lro_and_cascades(self):
        self.rm.resource_groups.create_or_update("core-cascade", {"location": "eastus"})
        msi = client(ManagedServiceIdentityClient, SIM)
        msi.user_assigned_identities.create_or_update("core-cascade", "id1", {"location": "eastus"})
        poller = self.rm.resource_groups.begin_delete("core-cascade")
        # while the delete runs, the group shows Deleting
        self.assertEqual(self.rm.resource_groups.get("core-cascade").properties.provisioning_state,
                         "Deleting")
        with self.assertRaises(HttpResponseError) as cm:
            msi.user_assigned_identities.create_or_update("core-cascade", "id2",
                                                          {"location": "eastus"})
        self.assertEqual(cm.exception.status_code, 409)
        self.assertEqual(cm.exception.error.code, "ResourceGroupBeingDeleted")
        poller.result()
        self.assertEqual(poller.status(), "Succeeded")
        self.assertFalse(self.rm.resource_groups.check_existence("core-cascade"))
        # the group's resources went with it
        self.rm.resource_groups.create_or_update("core-cascade", {"location": "eastus"})
        with self.assertRaises(ResourceNotFoundError):
            msi.user_assigned_identities.get("core-cascade", "id1")
        self.rm.resource_groups.begin_delete("core-cascade").result()

    def test_delete_absent_group_is_404(self):
        with self.assertRaises(ResourceNotFoundError) as cm:
            self.rm.resource_groups.begin_delete("core-never").result()
        self.assertEqual(cm.exception.error.code, "ResourceGroupNotFound")

    def test_paging_follows_next_link(self):
        for i in range(7):
            self.rm.resource_groups.create_or_update("core-page-%d" % i, {"location": "westus"})
        status, _, page = SIM.request("GET", "/subscriptions/%s/resourcegroups?api-version="
                                      "2022-09-01" % SUB, token=SIM.token())
        self.assertEqual(status, 200)
        self.assertEqual(len(page["value"]), 3)
        self.assertIn("nextLink", page)
        self.assertTrue(page["nextLink"].startswith(SIM.url))
        names = [g.name for g in self.rm.resource_groups.list() if g.name.startswith("core-page")]
        self.assertEqual(sorted(names), ["core-page-%d" % i for i in range(7)])
        for i in range(7):
            self.rm.resource_groups.begin_delete("core-page-%d" % i)


class Identities(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        client(ResourceManagementClient, SIM).resource_groups.create_or_update(
            "core-ids", {"location": "eastus"})

    def setUp(self):
        self.msi = client(ManagedServiceIdentityClient, SIM)

    def test_crud(self):
        ops = self.msi.user_assigned_identities
        ident = ops.create_or_update("core-ids", "Pool-Id", {"location": "East US",
                                                             "tags": {"a": "1"}})
        self.assertEqual(ident.tenant_id, TENANT)
        self.assertRegex(ident.principal_id, r"^[0-9a-f-]{36}$")
        self.assertRegex(ident.client_id, r"^[0-9a-f-]{36}$")
        self.assertEqual(ident.location, "eastus")
        # replace keeps the server-populated IDs
        again = ops.create_or_update("core-ids", "pool-id", {"location": "eastus",
                                                             "tags": {"a": "2"}})
        self.assertEqual(again.principal_id, ident.principal_id)
        self.assertEqual(again.name, "Pool-Id")
        self.assertEqual(again.tags, {"a": "2"})
        upd = ops.update("core-ids", "pool-id", {"tags": {"b": "3"}})
        self.assertEqual(upd.tags, {"b": "3"})
        got = ops.get("core-ids", "POOL-ID")
        self.assertEqual(got.client_id, ident.client_id)
        self.assertIn("Pool-Id", [i.name for i in ops.list_by_resource_group("core-ids")])
        self.assertIn("Pool-Id", [i.name for i in ops.list_by_subscription()])
        ops.delete("core-ids", "pool-id")
        with self.assertRaises(ResourceNotFoundError) as cm:
            ops.get("core-ids", "pool-id")
        self.assertEqual(cm.exception.error.code, "ResourceNotFound")
        ops.delete("core-ids", "pool-id")  # idempotent: 204

    def test_missing_group(self):
        with self.assertRaises(ResourceNotFoundError) as cm:
            self.msi.user_assigned_identities.create_or_update("core-nogroup", "x",
                                                               {"location": "eastus"})
        self.assertEqual(cm.exception.error.code, "ResourceGroupNotFound")

    def test_location_required(self):
        status, _, body = SIM.request(
            "PUT", rg_path("core-ids") + "/providers/Microsoft.ManagedIdentity/"
            "userAssignedIdentities/x?api-version=2023-01-31", body={"tags": {}},
            token=SIM.token())
        self.assertEqual(status, 400)
        self.assertEqual(body["error"]["code"], "LocationRequired")


class GenericResources(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        rm = client(ResourceManagementClient, SIM)
        rm.resource_groups.create_or_update("core-gen", {"location": "eastus"})
        msi = client(ManagedServiceIdentityClient, SIM)
        for i in range(5):
            tags = {"dsvmops-instance": "prod" if i % 2 == 0 else "dev"}
            msi.user_assigned_identities.create_or_update("core-gen", "gen-%d" % i,
                                                          {"location": "eastus", "tags": tags})

    def test_list_with_tag_filter_pages(self):
        rm = client(ResourceManagementClient, SIM)
        found = list(rm.resources.list_by_resource_group(
            "core-gen", filter="tagName eq 'dsvmops-instance' and tagValue eq 'prod'"))
        self.assertEqual(sorted(r.name for r in found), ["gen-0", "gen-2", "gen-4"])
        everything = list(rm.resources.list(
            filter="resourceType eq 'Microsoft.ManagedIdentity/userAssignedIdentities'"))
        self.assertGreaterEqual(len([r for r in everything if r.name.startswith("gen-")]), 5)
        # a generic GET by id works with the type's api-version
        one = rm.resources.get_by_id(found[0].id, "2018-11-30")
        self.assertEqual(one.name, found[0].name)
        self.assertTrue(rm.resources.check_existence_by_id(found[0].id, "2018-11-30"))

    def test_bad_filter(self):
        status, _, body = SIM.request(
            "GET", "/subscriptions/%s/resources?api-version=2021-04-01&$filter=bogus" % SUB,
            token=SIM.token())
        self.assertEqual(status, 400)
        self.assertEqual(body["error"]["code"], "InvalidFilterInQueryString")


class Providers(unittest.TestCase):
    def test_provider_registration(self):
        rm = client(ResourceManagementClient, SIM)
        p = rm.providers.get("Microsoft.Compute")
        self.assertEqual(p.namespace, "Microsoft.Compute")
        self.assertEqual(p.registration_state, "Registered")
        self.assertIn("virtualMachineScaleSets", [t.resource_type for t in p.resource_types])
        rm.providers.unregister("microsoft.batch")
        self.assertEqual(rm.providers.get("Microsoft.Batch").registration_state, "NotRegistered")
        rm.providers.register("Microsoft.Batch")
        self.assertEqual(rm.providers.get("Microsoft.Batch").registration_state, "Registered")
        with self.assertRaises(ResourceNotFoundError):
            rm.providers.get("Microsoft.Nonsense")

    def test_compute_usages(self):
        cm = client(ComputeManagementClient, SIM)
        usages = {u.name.value: u for u in cm.usage.list("westus")}
        self.assertIn("cores", usages)
        self.assertGreater(usages["cores"].limit, 0)
        self.assertIn("standardDSv5Family", usages)


class Subscriptions(unittest.TestCase):
    def test_list_and_get(self):
        from azure.mgmt.resource import SubscriptionClient
        from harness import ArmsimCredential, http_auth_policy
        cred = ArmsimCredential(SIM)
        sc = SubscriptionClient(cred, base_url=SIM.url, authentication_policy=http_auth_policy(cred))
        subs = [s.subscription_id for s in sc.subscriptions.list()]
        self.assertIn(SUB, subs)
        self.assertEqual(sc.subscriptions.get(SUB).tenant_id, TENANT)

    def test_correlation_headers(self):
        st, hdrs, _ = SIM.request("GET", rg_path("x") + "?api-version=2022-09-01",
                                  token=SIM.token(),
                                  headers={"x-ms-correlation-request-id": "corr-1"})
        self.assertEqual(hdrs["x-ms-correlation-request-id"], "corr-1")
        self.assertRegex(hdrs["x-ms-request-id"], r"^[0-9a-f-]{36}$")


class Errors(unittest.TestCase):
    def test_missing_api_version(self):
        status, _, body = SIM.request("GET", rg_path("x"), token=SIM.token())
        self.assertEqual(status, 400)
        self.assertEqual(body["error"]["code"], "MissingApiVersionParameter")

    def test_bad_api_version(self):
        status, _, body = SIM.request("GET", rg_path("x") + "?api-version=yesterday",
                                      token=SIM.token())
        self.assertEqual(status, 400)
        self.assertEqual(body["error"]["code"], "InvalidApiVersionParameter")

    def test_invalid_body(self):
        client(ResourceManagementClient, SIM).resource_groups.create_or_update(
            "core-err", {"location": "eastus"})
        status, _, body = SIM.request(
            "PUT", rg_path("core-err") + "/providers/Microsoft.ManagedIdentity/"
            "userAssignedIdentities/x?api-version=2018-11-30", body="{not json",
            token=SIM.token())
        self.assertEqual(status, 400)
        self.assertEqual(body["error"]["code"], "InvalidRequestContent")

    def test_unknown_type(self):
        status, _, body = SIM.request(
            "GET", rg_path("core-err") + "/providers/Microsoft.Foo/bars/x?api-version=2020-01-01",
            token=SIM.token())
        self.assertEqual(status, 400)
        self.assertEqual(body["error"]["code"], "NoRegisteredProviderFound")

    def test_sdk_honours_429_retry_after(self):
        import time
        rm = client(ResourceManagementClient, SIM)
        rm.resource_groups.create_or_update("core-429", {"location": "eastus"})
        st, _, _ = SIM.request("POST", "/_armsim/faults", body={
            "method": "GET", "type": "Microsoft.Resources/resourceGroups", "name": "core-429",
            "status": 429, "retry_after": 1, "count": 1})
        self.assertEqual(st, 201)
        t0 = time.time()
        self.assertEqual(rm.resource_groups.get("core-429").name, "core-429")
        self.assertGreaterEqual(time.time() - t0, 0.9)
        SIM.request("DELETE", "/_armsim/faults")

    def test_sdk_without_valid_credentials(self):
        from harness import ArmsimCredential
        bad = ArmsimCredential(SIM, secret="wrong")
        rm = client(ResourceManagementClient, SIM, credential=bad)
        with self.assertRaises(ClientAuthenticationError):
            rm.resource_groups.get("anything")


if __name__ == "__main__":
    unittest.main(argv=sys.argv[:1], verbosity=2, warnings="ignore")
