"""armsim conformance with Debian's Azure SDK: VM scale sets, their extensions (inline and
as child resources), instances with latestModelApplied, manualupgrade, etags."""

import json
import sys
import unittest

from harness import SUB, Armsim, client, rg_path, CLIENT, SECRET

from azure.core.exceptions import HttpResponseError, ResourceNotFoundError
from azure.mgmt.resource import ResourceManagementClient
from azure.mgmt.msi import ManagedServiceIdentityClient
from azure.mgmt.compute import ComputeManagementClient

SIM = None
RG = "cmp-rg"
UAMI = None


def setUpModule():
    global SIM, UAMI
    SIM = Armsim("--lro-ms", "150", "--throttle", "off", "--client", "%s:%s" % (CLIENT, SECRET))
    client(ResourceManagementClient, SIM).resource_groups.create_or_update(
        RG, {"location": "eastus"})
    UAMI = client(ManagedServiceIdentityClient, SIM).user_assigned_identities.create_or_update(
        RG, "pool-id", {"location": "eastus"})


def tearDownModule():
    SIM.stop()


def vmss_body(capacity=2, extensions=None):
    return {
        "location": "East US",
        "sku": {"name": "Standard_D4s_v5", "tier": "Standard", "capacity": capacity},
        "identity": {"type": "UserAssigned", "user_assigned_identities": {UAMI.id: {}}},
        "upgrade_policy": {"mode": "Manual"},
        "overprovision": False,
        "virtual_machine_profile": {
            "os_profile": {"computer_name_prefix": "dsvm", "admin_username": "azureuser",
                           "admin_password": "P@ssw0rd-never-returned"},
            "storage_profile": {
                "image_reference": {"publisher": "microsoft-dsvm", "offer": "ubuntu-2204",
                                    "sku": "2204-gen2", "version": "latest"},
                "os_disk": {"create_option": "FromImage", "caching": "ReadWrite",
                            "managed_disk": {"storage_account_type": "Premium_LRS"}}},
            "network_profile": {"network_interface_configurations": [{
                "name": "nic0", "primary": True,
                "ip_configurations": [{"name": "ip0", "subnet": {
                    "id": rg_path(RG) + "/providers/Microsoft.Network/virtualNetworks/v/subnets/s"}}]}]},
            "extension_profile": {"extensions": extensions or [
                {"name": "aadlogin", "publisher": "Microsoft.Azure.ActiveDirectory",
                 "type_properties_type": "AADSSHLoginForLinux", "type_handler_version": "1.0",
                 "protected_settings": {"Password": "inline-secret"}}]},
        },
    }


class ScaleSets(unittest.TestCase):
    def setUp(self):
        self.cm = client(ComputeManagementClient, SIM)

    def test_create_poller_write_only_and_server_fields(self):
        poller = self.cm.virtual_machine_scale_sets.begin_create_or_update(RG, "Pool-A", vmss_body())
        vm = poller.result()
        self.assertEqual(poller.status(), "Succeeded")
        self.assertEqual(vm.provisioning_state, "Succeeded")
        self.assertEqual(vm.name, "Pool-A")
        self.assertEqual(vm.location, "eastus")
        self.assertRegex(vm.unique_id, r"^[0-9a-f-]{36}$")
        self.assertIsNotNone(vm.time_created)
        self.assertIsNone(vm.virtual_machine_profile.os_profile.admin_password)
        ext = vm.virtual_machine_profile.extension_profile.extensions[0]
        self.assertEqual(ext.name, "aadlogin")
        self.assertIsNone(ext.protected_settings)
        uai = vm.identity.user_assigned_identities
        self.assertEqual(list(uai.values())[0].principal_id, UAMI.principal_id)
        self.assertEqual(list(uai.values())[0].client_id, UAMI.client_id)
        # server defaults
        self.assertTrue(vm.single_placement_group)
        self.assertEqual(vm.orchestration_mode, "Uniform")
        self.assertEqual(vm.virtual_machine_profile.os_profile.secrets, [])
        nic = vm.virtual_machine_profile.network_profile.network_interface_configurations[0]
        self.assertFalse(nic.enable_accelerated_networking)
        self.assertEqual(nic.dns_settings.dns_servers, [])
        self.assertEqual(nic.ip_configurations[0].private_ip_address_version, "IPv4")
        raw = SIM.request("GET", rg_path(RG) + "/providers/Microsoft.Compute/"
                          "virtualMachineScaleSets/pool-a?api-version=2024-11-01",
                          token=SIM.token(), raw=True)[2]
        self.assertNotIn("never-returned", raw)
        self.assertNotIn("inline-secret", raw)
        self.assertIn("Pool-A", [v.name for v in self.cm.virtual_machine_scale_sets.list(RG)])
        self.assertIn("Pool-A", [v.name for v in self.cm.virtual_machine_scale_sets.list_all()])

    def test_state_while_creating(self):
        poller = self.cm.virtual_machine_scale_sets.begin_create_or_update(RG, "pool-slow",
                                                                           vmss_body())
        self.assertIn(self.cm.virtual_machine_scale_sets.get(RG, "pool-slow").provisioning_state,
                      ("Creating", "Succeeded"))
        poller.result()
        status, _, body = SIM.request("PUT", rg_path(RG) + "/providers/Microsoft.Compute/"
                                      "virtualMachineScaleSets/pool-slow?api-version=2022-08-01",
                                      body={"location": "eastus", "sku": {"name": "x",
                                                                          "capacity": 1}},
                                      token=SIM.token())
        self.assertEqual(status, 200)
        self.assertEqual(body["properties"]["provisioningState"], "Updating")

    def test_scale_extensions_and_manual_upgrade(self):
        vmss = self.cm.virtual_machine_scale_sets
        vmss.begin_create_or_update(RG, "pool-b", vmss_body(capacity=2)).result()
        upd = vmss.begin_update(RG, "pool-b", {"sku": {"capacity": 3}}).result()
        self.assertEqual(upd.sku.capacity, 3)
        vms = list(self.cm.virtual_machine_scale_set_vms.list(RG, "pool-b"))
        self.assertEqual(len(vms), 3)
        self.assertTrue(all(v.latest_model_applied for v in vms))
        # a child extension changes the model: Manual instances fall behind
        ext = self.cm.virtual_machine_scale_set_extensions.begin_create_or_update(
            RG, "pool-b", "ama", {"publisher": "Microsoft.Azure.Monitor",
                                  "type_properties_type": "AzureMonitorLinuxAgent",
                                  "type_handler_version": "1.0",
                                  "protected_settings": {"k": "child-secret"}}).result()
        self.assertEqual(ext.provisioning_state, "Succeeded")
        self.assertIsNone(ext.protected_settings)
        got = self.cm.virtual_machine_scale_set_extensions.get(RG, "pool-b", "AMA")
        self.assertEqual(got.type_properties_type, "AzureMonitorLinuxAgent")
        names = [e.name for e in self.cm.virtual_machine_scale_set_extensions.list(RG, "pool-b")]
        self.assertEqual(sorted(names), ["aadlogin", "ama"])
        inline = vmss.get(RG, "pool-b").virtual_machine_profile.extension_profile.extensions
        self.assertEqual(sorted(e.name for e in inline), ["aadlogin", "ama"])
        vms = list(self.cm.virtual_machine_scale_set_vms.list(RG, "pool-b"))
        self.assertFalse(any(v.latest_model_applied for v in vms))
        poller = vmss.begin_update_instances(RG, "pool-b", {"instance_ids": ["0", "2"]})
        poller.result()
        self.assertEqual(poller.status(), "Succeeded")
        vms = {v.instance_id: v.latest_model_applied
               for v in self.cm.virtual_machine_scale_set_vms.list(RG, "pool-b")}
        self.assertEqual(vms, {"0": True, "1": False, "2": True})
        one = self.cm.virtual_machine_scale_set_vms.get(RG, "pool-b", "1")
        self.assertFalse(one.latest_model_applied)
        # deleting the extension is an LRO too
        self.cm.virtual_machine_scale_set_extensions.begin_delete(RG, "pool-b", "ama").result()
        with self.assertRaises(ResourceNotFoundError):
            self.cm.virtual_machine_scale_set_extensions.get(RG, "pool-b", "ama")
        vmss.begin_delete(RG, "pool-b").result()
        with self.assertRaises(ResourceNotFoundError):
            vmss.get(RG, "pool-b")
        vmss.begin_delete(RG, "pool-b").result()  # 204 when absent

    def test_extension_needs_scale_set(self):
        with self.assertRaises(ResourceNotFoundError) as cm:
            self.cm.virtual_machine_scale_set_extensions.begin_create_or_update(
                RG, "pool-none", "x", {"publisher": "p", "type_properties_type": "t",
                                       "type_handler_version": "1.0"}).result()
        self.assertEqual(cm.exception.error.code, "ParentResourceNotFound")

    def test_etag_preconditions(self):
        self.cm.virtual_machine_scale_sets.begin_create_or_update(RG, "pool-etag",
                                                                  vmss_body()).result()
        path = rg_path(RG) + ("/providers/Microsoft.Compute/virtualMachineScaleSets/pool-etag"
                              "?api-version=2024-11-01")
        tok = SIM.token()
        status, hdrs, body = SIM.request("GET", path, token=tok)
        etag = hdrs["ETag"]
        self.assertEqual(body["etag"], etag)
        st, _, err = SIM.request("PATCH", path, body={"tags": {"a": "b"}}, token=tok,
                                 headers={"If-Match": 'W/"stale"'})
        self.assertEqual(st, 412)
        self.assertEqual(err["error"]["code"], "PreconditionFailed")
        st, _, _ = SIM.request("PATCH", path, body={"tags": {"a": "b"}}, token=tok,
                               headers={"If-Match": etag})
        self.assertEqual(st, 200)
        st, _, err = SIM.request("PUT", path, body={"location": "eastus", "sku": {"name": "x"}},
                                 token=tok, headers={"If-None-Match": "*"})
        self.assertEqual(st, 412)
        st, _, _ = SIM.request("DELETE", path, token=tok, headers={"If-Match": etag})
        self.assertEqual(st, 412)  # the PATCH changed the etag
        st, hdrs, _ = SIM.request("GET", path, token=tok)
        st, _, _ = SIM.request("DELETE", path, token=tok, headers={"If-Match": hdrs["ETag"]})
        self.assertEqual(st, 202)

    def test_manualupgrade_needs_instance_ids(self):
        self.cm.virtual_machine_scale_sets.begin_create_or_update(RG, "pool-up",
                                                                  vmss_body()).result()
        st, _, err = SIM.request("POST", rg_path(RG) + "/providers/Microsoft.Compute/"
                                 "virtualMachineScaleSets/pool-up/manualupgrade?api-version="
                                 "2022-08-01", body={}, token=SIM.token())
        self.assertEqual(st, 400)


if __name__ == "__main__":
    unittest.main(argv=sys.argv[:1], verbosity=2, warnings="ignore")
