"""armsim conformance with Debian's Azure SDK: Batch accounts and pools, storage accounts
and file shares (SMB and NFS)."""

import sys
import time
import unittest

from harness import Armsim, client, rg_path, CLIENT, SECRET

from azure.core.exceptions import HttpResponseError, ResourceNotFoundError
from azure.mgmt.resource import ResourceManagementClient
from azure.mgmt.msi import ManagedServiceIdentityClient
from azure.mgmt.batch import BatchManagementClient
from azure.mgmt.storage import StorageManagementClient

SIM = None
RG = "bs-rg"
UAMI = None


def setUpModule():
    global SIM, UAMI
    SIM = Armsim("--lro-ms", "150", "--throttle", "off", "--client", "%s:%s" % (CLIENT, SECRET))
    client(ResourceManagementClient, SIM).resource_groups.create_or_update(
        RG, {"location": "japaneast"})
    UAMI = client(ManagedServiceIdentityClient, SIM).user_assigned_identities.create_or_update(
        RG, "batch-id", {"location": "japaneast"})


def tearDownModule():
    SIM.stop()


def pool_body(nodes=2):
    return {
        "identity": {"type": "UserAssigned", "user_assigned_identities": {UAMI.id: {}}},
        "vm_size": "STANDARD_D4",
        "deployment_configuration": {"virtual_machine_configuration": {
            "image_reference": {"publisher": "microsoft-dsvm", "offer": "ubuntu-hpc",
                                "sku": "2204", "version": "latest"},
            "node_agent_sku_id": "batch.node.ubuntu 22.04"}},
        "scale_settings": {"fixed_scale": {"target_dedicated_nodes": nodes,
                                           "resize_timeout": "PT15M"}},
    }


class Batch(unittest.TestCase):
    def setUp(self):
        self.bm = client(BatchManagementClient, SIM)

    def test_account_and_pools(self):
        poller = self.bm.batch_account.begin_create(RG, "dsbatch", {"location": "Japan East"})
        acct = poller.result()
        self.assertEqual(poller.status(), "Succeeded")
        self.assertEqual(acct.provisioning_state, "Succeeded")
        self.assertEqual(acct.account_endpoint, "dsbatch.japaneast.batch.azure.com")
        self.assertEqual(acct.pool_allocation_mode, "BatchService")
        self.assertIn("dsbatch", [a.name for a in self.bm.batch_account.list_by_resource_group(RG)])
        self.assertIn("dsbatch", [a.name for a in self.bm.batch_account.list()])
        upd = self.bm.batch_account.update(RG, "dsbatch", {"tags": {"x": "y"}})
        self.assertEqual(upd.tags, {"x": "y"})

        pool = self.bm.pool.create(RG, "dsbatch", "nightly", pool_body())
        self.assertEqual(pool.provisioning_state, "Succeeded")
        # nodes are allocated in the background
        self.assertEqual(pool.allocation_state, "Resizing")
        self.assertEqual(pool.current_dedicated_nodes, 0)
        time.sleep(0.3)
        pool = self.bm.pool.get(RG, "dsbatch", "nightly")
        self.assertEqual(pool.allocation_state, "Steady")
        self.assertEqual(pool.current_dedicated_nodes, 2)
        self.assertEqual(pool.task_slots_per_node, 1)  # server default
        self.assertIsNotNone(pool.etag)
        ids = pool.identity.user_assigned_identities
        self.assertEqual(list(ids.values())[0].principal_id, UAMI.principal_id)
        # a stale etag is refused, the current one is accepted
        with self.assertRaises(HttpResponseError) as cm:
            self.bm.pool.update(RG, "dsbatch", "nightly", {"scale_settings": {
                "fixed_scale": {"target_dedicated_nodes": 4}}}, if_match='W/"0xstale"')
        self.assertEqual(cm.exception.status_code, 412)
        upd = self.bm.pool.update(RG, "dsbatch", "nightly", {"scale_settings": {
            "fixed_scale": {"target_dedicated_nodes": 4}}}, if_match=pool.etag)
        self.assertEqual(upd.allocation_state, "Resizing")
        self.assertEqual(upd.current_dedicated_nodes, 2)
        time.sleep(0.3)
        self.assertEqual(self.bm.pool.get(RG, "dsbatch", "nightly").current_dedicated_nodes, 4)
        with self.assertRaises(HttpResponseError) as cm:
            self.bm.pool.create(RG, "dsbatch", "nightly", pool_body(), if_none_match="*")
        self.assertEqual(cm.exception.status_code, 412)
        # re-PUT answers 200 again (the SDK accepts nothing else)
        self.bm.pool.create(RG, "dsbatch", "nightly", pool_body(3))
        self.assertEqual([p.name for p in self.bm.pool.list_by_batch_account(RG, "dsbatch")],
                         ["nightly"])
        self.bm.pool.begin_delete(RG, "dsbatch", "nightly").result()
        with self.assertRaises(ResourceNotFoundError):
            self.bm.pool.get(RG, "dsbatch", "nightly")
        self.bm.batch_account.begin_delete(RG, "dsbatch").result()
        with self.assertRaises(ResourceNotFoundError):
            self.bm.batch_account.get(RG, "dsbatch")

    def test_pool_needs_account(self):
        with self.assertRaises(ResourceNotFoundError) as cm:
            self.bm.pool.create(RG, "noacct", "p", pool_body())
        self.assertEqual(cm.exception.error.code, "ParentResourceNotFound")


class Storage(unittest.TestCase):
    def setUp(self):
        self.sm = client(StorageManagementClient, SIM)

    def test_account_and_shares(self):
        sa = self.sm.storage_accounts
        poller = sa.begin_create(RG, "dsvmshared", {"location": "japaneast", "kind": "FileStorage",
                                                    "sku": {"name": "Premium_LRS"}})
        acct = poller.result()
        self.assertEqual(poller.status(), "Succeeded")
        self.assertEqual(acct.provisioning_state, "Succeeded")
        self.assertEqual(acct.primary_endpoints.file, "https://dsvmshared.file.core.windows.net/")
        self.assertTrue(acct.enable_https_traffic_only)  # server default
        self.assertIsNotNone(acct.creation_time)
        self.assertIsNotNone(acct.key_creation_time.key1)
        keys = sa.list_keys(RG, "dsvmshared").keys
        self.assertEqual([k.key_name for k in keys], ["key1", "key2"])
        raw = SIM.request("GET", rg_path(RG) + "/providers/Microsoft.Storage/storageAccounts/"
                          "dsvmshared?api-version=2022-09-01", token=SIM.token(), raw=True)[2]
        for k in keys:
            self.assertNotIn(k.value, raw)
        upd = sa.update(RG, "dsvmshared", {"tags": {"t": "1"}})
        self.assertEqual(upd.tags, {"t": "1"})
        self.assertIn("dsvmshared", [a.name for a in sa.list_by_resource_group(RG)])
        self.assertIn("dsvmshared", [a.name for a in sa.list()])

        fs = self.sm.file_shares
        nfs = fs.create(RG, "dsvmshared", "home", {"share_quota": 1024, "enabled_protocols": "NFS",
                                                   "metadata": {"dsvmops-object": "x"}})
        self.assertEqual(nfs.enabled_protocols, "NFS")
        self.assertEqual(nfs.root_squash, "NoRootSquash")  # server default for NFS
        self.assertEqual(nfs.type, "Microsoft.Storage/storageAccounts/fileServices/shares")
        got = fs.get(RG, "dsvmshared", "HOME")
        self.assertEqual(got.share_quota, 1024)
        self.assertEqual(got.metadata, {"dsvmops-object": "x"})
        upd = fs.update(RG, "dsvmshared", "home", {"share_quota": 2048})
        self.assertEqual(upd.share_quota, 2048)
        self.assertEqual(upd.enabled_protocols, "NFS")
        self.assertEqual([s.name for s in fs.list(RG, "dsvmshared")], ["home"])
        fs.delete(RG, "dsvmshared", "home")
        with self.assertRaises(ResourceNotFoundError):
            fs.get(RG, "dsvmshared", "home")
        sa.delete(RG, "dsvmshared")
        with self.assertRaises(ResourceNotFoundError):
            sa.get_properties(RG, "dsvmshared")

    def test_smb_share_and_nfs_needs_premium(self):
        sa = self.sm.storage_accounts
        sa.begin_create(RG, "dsvmstd", {"location": "japaneast", "kind": "StorageV2",
                                        "sku": {"name": "Standard_LRS"}}).result()
        smb = self.sm.file_shares.create(RG, "dsvmstd", "data", {"share_quota": 100})
        self.assertEqual(smb.enabled_protocols, "SMB")  # server default
        with self.assertRaises(HttpResponseError) as cm:
            self.sm.file_shares.create(RG, "dsvmstd", "nfs", {"enabled_protocols": "NFS"})
        self.assertEqual(cm.exception.status_code, 400)

    def test_check_name_availability(self):
        sa = self.sm.storage_accounts
        sa.begin_create(RG, "dsvmtaken", {"location": "japaneast", "kind": "StorageV2",
                                          "sku": {"name": "Standard_LRS"}}).result()
        cna = sa.check_name_availability
        self.assertFalse(cna({"name": "dsvmtaken", "type": "Microsoft.Storage/storageAccounts"})
                         .name_available)
        self.assertTrue(cna({"name": "dsvmfree", "type": "Microsoft.Storage/storageAccounts"})
                        .name_available)
        # names are global: another group cannot take it
        client(ResourceManagementClient, SIM).resource_groups.create_or_update(
            "bs-other", {"location": "japaneast"})
        with self.assertRaises(HttpResponseError) as cm:
            sa.begin_create("bs-other", "dsvmtaken", {"location": "japaneast",
                                                      "kind": "StorageV2",
                                                      "sku": {"name": "Standard_LRS"}}).result()
        self.assertEqual(cm.exception.status_code, 409)
        self.assertEqual(cm.exception.error.code, "StorageAccountAlreadyTaken")
        bad = cna({"name": "Bad_Name", "type": "Microsoft.Storage/storageAccounts"})
        self.assertFalse(bad.name_available)
        self.assertEqual(bad.reason, "AccountNameInvalid")

    def test_share_needs_account(self):
        with self.assertRaises(ResourceNotFoundError) as cm:
            self.sm.file_shares.create(RG, "noaccount", "s", {"share_quota": 1})
        self.assertEqual(cm.exception.error.code, "ParentResourceNotFound")


if __name__ == "__main__":
    unittest.main(argv=sys.argv[:1], verbosity=2, warnings="ignore")
