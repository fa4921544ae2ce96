"""armsim at the current api-versions (those of the official examples in
shared/reference/arm-examples, which the Debian SDK predates): every type is created,
read, listed where ARM lists it, and deleted over raw HTTP with bodies shaped like those
examples, checking the status codes and server-populated fields each operation declares."""

import sys
import time
import unittest

from harness import SUB, TENANT, Armsim, rg_path, CLIENT, SECRET

SIM = None
TOK = None
RG = rg_path("cur")
P = RG + "/providers/"
UAMI = P + "Microsoft.ManagedIdentity/userAssignedIdentities/cur-id"
VMSS = P + "Microsoft.Compute/virtualMachineScaleSets/cur-vmss"
ROLE = ("/subscriptions/%s/providers/Microsoft.Authorization/roleDefinitions/"
        "acdd72a7-3385-48ef-bd42-f606fba81ae7" % SUB)

# (name, path, api-version, body, PUT statuses, fields GET must show, DELETE statuses)
CASES = [
    ("identity", UAMI, "2024-11-30", {"location": "eastus", "tags": {"key1": "value1"}},
     {201}, ["properties.principalId", "properties.clientId", "properties.tenantId"], {200}),
    ("vault", P + "Microsoft.KeyVault/vaults/cur-kv", "2024-11-01",
     {"location": "westus", "properties": {
         "tenantId": TENANT, "sku": {"family": "A", "name": "standard"},
         "accessPolicies": [{"tenantId": TENANT, "objectId": "00000000-0000-0000-0000-000000000000",
                             "permissions": {"keys": ["get"], "secrets": ["get", "list"],
                                             "certificates": []}}],
         "enabledForDeployment": True, "enabledForDiskEncryption": True,
         "enabledForTemplateDeployment": True, "publicNetworkAccess": "Enabled"}},
     {200, 201}, ["properties.vaultUri", "properties.provisioningState"], None),
    ("secret", P + "Microsoft.KeyVault/vaults/cur-kv/secrets/cur-secret", "2024-11-01",
     {"properties": {"value": "secret-value"}}, {201},
     ["properties.secretUri", "properties.secretUriWithVersion"], None),
    ("storage", P + "Microsoft.Storage/storageAccounts/curstorage", "2025-06-01",
     {"sku": {"name": "Standard_GRS"}, "kind": "StorageV2", "location": "eastus",
      "properties": {"allowBlobPublicAccess": False, "minimumTlsVersion": "TLS1_2",
                     "encryption": {"services": {"file": {"keyType": "Account", "enabled": True},
                                                 "blob": {"keyType": "Account", "enabled": True}},
                                    "keySource": "Microsoft.Storage"}},
      "tags": {"key1": "value1"}},
     {202}, ["properties.primaryEndpoints.file", "properties.creationTime",
             "properties.statusOfPrimary"], None),
    ("share", P + "Microsoft.Storage/storageAccounts/curstorage/fileServices/default/shares/cur",
     "2025-06-01", {"properties": {"shareQuota": 100}}, {201},
     ["properties.enabledProtocols", "properties.lastModifiedTime", "etag"], {200}),
    ("batch account", P + "Microsoft.Batch/batchAccounts/curbatch", "2024-07-01",
     {"location": "japaneast", "identity": {"type": "UserAssigned",
                                            "userAssignedIdentities": {UAMI: {}}},
      "properties": {"autoStorage": {"storageAccountId": P + "Microsoft.Storage/"
                                                            "storageAccounts/curstorage"}}},
     {202}, ["properties.accountEndpoint", "properties.autoStorage.lastKeySync",
             "identity.userAssignedIdentities"], None),
    ("batch pool", P + "Microsoft.Batch/batchAccounts/curbatch/pools/curpool", "2024-07-01",
     {"identity": {"type": "UserAssigned", "userAssignedIdentities": {UAMI: {}}},
      "properties": {"vmSize": "STANDARD_D4",
                     "deploymentConfiguration": {"virtualMachineConfiguration": {
                         "imageReference": {"publisher": "Canonical", "offer": "UbuntuServer",
                                            "sku": "18.04-LTS", "version": "latest"},
                         "nodeAgentSkuId": "batch.node.ubuntu 18.04"}},
                     "scaleSettings": {"autoScale": {"formula": "$TargetDedicatedNodes=1",
                                                     "evaluationInterval": "PT5M"}}}},
     {200}, ["properties.allocationState", "properties.creationTime", "etag",
             "properties.taskSchedulingPolicy.nodeFillType"], {202}),
    ("nsg", P + "Microsoft.Network/networkSecurityGroups/cur-nsg", "2024-07-01",
     {"location": "eastus"}, {201}, ["properties.defaultSecurityRules", "etag"], {202}),
    ("public ip", P + "Microsoft.Network/publicIPAddresses/cur-ip", "2024-07-01",
     {"location": "eastus"}, {201},
     ["properties.publicIPAllocationMethod", "properties.idleTimeoutInMinutes", "sku.name"],
     {202}),
    ("load balancer", P + "Microsoft.Network/loadBalancers/cur-lb", "2024-07-01",
     {"location": "eastus", "sku": {"name": "Standard"},
      "properties": {"frontendIPConfigurations": [{"name": "fe-lb", "properties": {
          "publicIPAddress": {"id": P + "Microsoft.Network/publicIPAddresses/cur-ip"}}}],
          "backendAddressPools": [{"name": "be-lb"}],
          "probes": [{"name": "probe-lb", "properties": {"protocol": "Http", "port": 80,
                                                         "requestPath": "healthcheck.aspx",
                                                         "intervalInSeconds": 15,
                                                         "numberOfProbes": 2}}]}},
     {201}, ["properties.frontendIPConfigurations", "properties.resourceGuid"], {202}),
    ("workspace", P + "Microsoft.OperationalInsights/workspaces/cur-la", "2025-02-01",
     {"location": "australiasoutheast", "properties": {"sku": {"name": "PerGB2018"},
                                                       "retentionInDays": 30},
      "tags": {"tag1": "val1"}},
     {201}, ["properties.customerId", "properties.provisioningState"], None),
    ("dcr", P + "Microsoft.Insights/dataCollectionRules/cur-dcr", "2024-03-11",
     {"location": "eastus", "properties": {
         "destinations": {"logAnalytics": [{"workspaceResourceId": P + "Microsoft."
                                            "OperationalInsights/workspaces/cur-la",
                                            "name": "centralWorkspace"}]},
         "dataFlows": [{"streams": ["Microsoft-Perf"], "destinations": ["centralWorkspace"]}]}},
     {201}, ["properties.immutableId",
             "properties.destinations.logAnalytics"], {200}),
    ("scale set", VMSS, "2024-11-01",
     {"location": "westus", "sku": {"name": "Standard_D1_v2", "tier": "Standard", "capacity": 3},
      "properties": {"overprovision": True, "upgradePolicy": {"mode": "Manual"},
                     "virtualMachineProfile": {"osProfile": {
                         "computerNamePrefix": "vmss", "adminUsername": "azureuser",
                         "adminPassword": "never-returned"}}}},
     {201}, ["properties.uniqueId", "properties.timeCreated", "properties.provisioningState"],
     None),
    ("extension", VMSS + "/extensions/cur-ext", "2024-11-01",
     {"properties": {"publisher": "Microsoft.Azure.Monitor", "type": "AzureMonitorLinuxAgent",
                     "typeHandlerVersion": "1.0", "autoUpgradeMinorVersion": True,
                     "protectedSettings": {"secret": "never-returned"}}},
     {201}, ["properties.provisioningState"], {202}),
    ("dcr association", VMSS + "/providers/Microsoft.Insights/dataCollectionRuleAssociations/"
     "cur-assoc", "2024-03-11",
     {"properties": {"dataCollectionRuleId": P + "Microsoft.Insights/dataCollectionRules/"
                                                 "cur-dcr"}},
     {201}, ["properties.dataCollectionRuleId"], {200}),
    ("role assignment", RG + "/providers/Microsoft.Authorization/roleAssignments/"
     "05c5a614-a7d6-4502-b150-c2fb455033ff", "2022-04-01",
     {"properties": {"roleDefinitionId": ROLE, "principalId": "ce2ce14e-85d7-4629-bdbc-"
                                                              "454d0519d987",
                     "principalType": "User"}},
     {201}, ["properties.scope", "properties.createdOn"], {200}),
    ("policy assignment", RG + "/providers/Microsoft.Authorization/policyAssignments/"
     "EnforceNaming", "2025-03-01",
     {"properties": {"displayName": "Enforce resource naming rules",
                     "policyDefinitionId": "/subscriptions/%s/providers/Microsoft.Authorization/"
                                           "policyDefinitions/ResourceNaming" % SUB,
                     "parameters": {"prefix": {"value": "DeptA"}},
                     "metadata": {"assignedBy": "Special Someone"},
                     "nonComplianceMessages": [{"message": "Resource names must start with "
                                                           "'DeptA'."}]}},
     {201}, ["properties.scope", "properties.notScopes", "properties.instanceId"], {200}),
]


def get_path(obj, dotted):
    for part in dotted.split("."):
        if not isinstance(obj, dict) or part not in obj:
            return None
        obj = obj[part]
    return obj


def setUpModule():
    global SIM, TOK
    SIM = Armsim("--throttle", "off", "--lro-ms", "100", "--client", "%s:%s" % (CLIENT, SECRET))
    TOK = SIM.token()
    st, _, _ = SIM.request("PUT", RG + "?api-version=2025-04-01", body={"location": "eastus",
                                                                       "tags": {}}, token=TOK)
    assert st == 201, st


def tearDownModule():
    SIM.stop()


class CurrentVersions(unittest.TestCase):
    def test_every_type(self):
        for name, path, api, body, put_codes, fields, _ in CASES:
            with self.subTest(type=name):
                url = path + "?api-version=" + api
                st, _, resp = SIM.request("PUT", url, body=body, token=TOK)
                self.assertIn(st, put_codes, (name, resp))
                time.sleep(0.15)
                st, _, got = SIM.request("GET", url, token=TOK)
                self.assertEqual(st, 200, (name, got))
                for f in fields:
                    self.assertIsNotNone(get_path(got, f), (name, f, got))
                self.assertNotIn("never-returned", str(got))
                self.assertNotIn("secret-value", str(got))
        for name, path, api, _, _, _, del_codes in reversed(CASES):
            if del_codes is None:
                continue
            with self.subTest(delete=name):
                st, _, _ = SIM.request("DELETE", path + "?api-version=" + api, token=TOK)
                self.assertIn(st, del_codes, name)

    def test_lists_at_current_versions(self):
        for ns_type, api in (("Microsoft.Compute/virtualMachineScaleSets", "2024-11-01"),
                             ("Microsoft.KeyVault/vaults", "2024-11-01"),
                             ("Microsoft.ManagedIdentity/userAssignedIdentities", "2024-11-30"),
                             ("Microsoft.Storage/storageAccounts", "2025-06-01"),
                             ("Microsoft.OperationalInsights/workspaces", "2025-02-01"),
                             ("Microsoft.Authorization/policyAssignments", "2025-03-01")):
            with self.subTest(list=ns_type):
                st, _, body = SIM.request(
                    "GET", "/subscriptions/%s/providers/%s?api-version=%s" % (SUB, ns_type, api),
                    token=TOK)
                self.assertEqual(st, 200)
                self.assertIsInstance(body["value"], list)

    def test_old_api_version_refused(self):
        st, _, body = SIM.request("GET", VMSS + "?api-version=2015-01-01", token=TOK)
        self.assertEqual(st, 400)
        self.assertEqual(body["error"]["code"], "NoRegisteredProviderFound")


if __name__ == "__main__":
    unittest.main(argv=sys.argv[:1], verbosity=2, warnings="ignore")
