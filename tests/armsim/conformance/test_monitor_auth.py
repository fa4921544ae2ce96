"""armsim conformance with Debian's Azure SDK: Log Analytics workspaces, data collection
rules and associations, role assignments and policy assignments at subscription, resource
group and resource scope."""

import sys
import time
import unittest

from harness import SUB, Armsim, client, rg_path, CLIENT, SECRET

from azure.core.exceptions import HttpResponseError, ResourceNotFoundError
from azure.mgmt.resource import ResourceManagementClient, PolicyClient
from azure.mgmt.msi import ManagedServiceIdentityClient
from azure.mgmt.loganalytics import LogAnalyticsManagementClient
from azure.mgmt.monitor import MonitorManagementClient
from azure.mgmt.authorization import AuthorizationManagementClient

SIM = None
RG = "mon-rg"
UAMI = None
READER = "acdd72a7-3385-48ef-bd42-f606fba81ae7"
KV_SECRETS_USER = "4633458b-17de-408a-b874-0445c86b69e6"


def setUpModule():
    global SIM, UAMI
    SIM = Armsim("--lro-ms", "150", "--throttle", "off", "--page-size", "2",
                 "--client", "%s:%s" % (CLIENT, SECRET))
    client(ResourceManagementClient, SIM).resource_groups.create_or_update(
        RG, {"location": "northeurope"})
    UAMI = client(ManagedServiceIdentityClient, SIM).user_assigned_identities.create_or_update(
        RG, "mon-id", {"location": "northeurope"})


def tearDownModule():
    SIM.stop()


def role_def(guid):
    return "/subscriptions/%s/providers/Microsoft.Authorization/roleDefinitions/%s" % (SUB, guid)


class Monitoring(unittest.TestCase):
    def test_workspace_rule_association(self):
        la = client(LogAnalyticsManagementClient, SIM)
        poller = la.workspaces.begin_create_or_update(RG, "ds-logs", {"location": "northeurope"})
        ws = poller.result()
        self.assertEqual(poller.status(), "Succeeded")
        self.assertEqual(ws.provisioning_state, "Succeeded")
        self.assertRegex(ws.customer_id, r"^[0-9a-f-]{36}$")
        self.assertEqual(ws.retention_in_days, 30)  # server default
        self.assertEqual(ws.sku.name, "PerGB2018")
        self.assertIn("ds-logs", [w.name for w in la.workspaces.list_by_resource_group(RG)])
        upd = la.workspaces.update(RG, "ds-logs", {"retention_in_days": 60})
        self.assertEqual(upd.retention_in_days, 60)

        mon = client(MonitorManagementClient, SIM)
        dcr = mon.data_collection_rules.create(RG, "ds-dcr", {
            "location": "northeurope",
            "data_sources": {"syslog": [{"name": "sys", "streams": ["Microsoft-Syslog"],
                                         "facility_names": ["auth"], "log_levels": ["Error"]}]},
            "destinations": {"log_analytics": [{"workspace_resource_id": ws.id, "name": "la"}]},
            "data_flows": [{"streams": ["Microsoft-Syslog"], "destinations": ["la"]}]})
        self.assertTrue(dcr.immutable_id.startswith("dcr-"))
        self.assertEqual(dcr.destinations.log_analytics[0].workspace_id, ws.customer_id)
        self.assertEqual(mon.data_collection_rules.get(RG, "DS-DCR").immutable_id,
                         dcr.immutable_id)
        self.assertIn("ds-dcr", [d.name for d in mon.data_collection_rules.list_by_resource_group(RG)])
        # an association is an extension resource on the identity (any resource works)
        assoc = mon.data_collection_rule_associations.create(
            UAMI.id, "ds-dcr-assoc", {"data_collection_rule_id": dcr.id})
        self.assertEqual(assoc.id, UAMI.id +
                         "/providers/Microsoft.Insights/dataCollectionRuleAssociations/ds-dcr-assoc")
        self.assertEqual([a.name for a in mon.data_collection_rule_associations.list_by_resource(
            UAMI.id)], ["ds-dcr-assoc"])
        self.assertEqual([a.name for a in mon.data_collection_rule_associations.list_by_rule(
            RG, "ds-dcr")], ["ds-dcr-assoc"])
        mon.data_collection_rule_associations.delete(UAMI.id, "ds-dcr-assoc")
        with self.assertRaises(ResourceNotFoundError):
            mon.data_collection_rule_associations.get(UAMI.id, "ds-dcr-assoc")
        with self.assertRaises(ResourceNotFoundError):
            mon.data_collection_rule_associations.create(
                UAMI.id + "-missing", "x", {"data_collection_rule_id": dcr.id})
        mon.data_collection_rules.delete(RG, "ds-dcr")
        la.workspaces.begin_delete(RG, "ds-logs").result()
        with self.assertRaises(ResourceNotFoundError):
            la.workspaces.get(RG, "ds-logs")


class Autoscale(unittest.TestCase):
    def test_autoscale_settings(self):
        mon = client(MonitorManagementClient, SIM)
        target = rg_path(RG) + "/providers/Microsoft.Compute/virtualMachineScaleSets/pool"
        body = {"location": "northeurope", "target_resource_uri": target, "profiles": [{
            "name": "default", "capacity": {"minimum": "1", "maximum": "5", "default": "1"},
            "rules": [{"metric_trigger": {"metric_name": "Percentage CPU",
                                          "metric_resource_uri": target, "time_grain": "PT1M",
                                          "statistic": "Average", "time_window": "PT5M",
                                          "time_aggregation": "Average", "operator": "GreaterThan",
                                          "threshold": 75},
                       "scale_action": {"direction": "Increase", "type": "ChangeCount",
                                        "value": "1", "cooldown": "PT5M"}}]}]}
        got = mon.autoscale_settings.create_or_update(RG, "pool-autoscale", body)
        self.assertTrue(got.enabled)  # server default
        self.assertEqual(got.profiles[0].capacity.maximum, "5")
        upd = mon.autoscale_settings.update(RG, "pool-autoscale", {"enabled": False})
        self.assertFalse(upd.enabled)
        self.assertEqual([a.name for a in mon.autoscale_settings.list_by_resource_group(RG)],
                         ["pool-autoscale"])
        mon.autoscale_settings.delete(RG, "pool-autoscale")
        with self.assertRaises(ResourceNotFoundError):
            mon.autoscale_settings.get(RG, "pool-autoscale")


class RoleAssignments(unittest.TestCase):
    def setUp(self):
        self.auth = client(AuthorizationManagementClient, SIM)

    def test_scopes_exists_list_delete(self):
        ra = self.auth.role_assignments
        scopes = ["/subscriptions/%s" % SUB, rg_path(RG), UAMI.id]
        names = ["0b3ad3c4-0000-4000-8000-00000000000%d" % i for i in range(3)]
        for scope, name in zip(scopes, names):
            got = ra.create(scope, name, {"role_definition_id": role_def(READER),
                                          "principal_id": UAMI.principal_id,
                                          "principal_type": "ServicePrincipal",
                                          "description": "dsvmops:Pool/a"})
            self.assertEqual(got.scope.lower(), scope.lower())
            self.assertEqual(got.name, name)
            self.assertEqual(got.description, "dsvmops:Pool/a")
            self.assertIsNotNone(got.created_on)
        # same scope, role and principal under another name
        with self.assertRaises(HttpResponseError) as cm:
            ra.create(rg_path(RG), "0b3ad3c4-0000-4000-8000-0000000000ff",
                      {"role_definition_id": role_def(READER), "principal_id": UAMI.principal_id})
        self.assertEqual(cm.exception.status_code, 409)
        self.assertEqual(cm.exception.error.code, "RoleAssignmentExists")
        # the same name again is an idempotent update
        ra.create(rg_path(RG), names[1], {"role_definition_id": role_def(READER),
                                          "principal_id": UAMI.principal_id})
        self.assertEqual(ra.get(rg_path(RG), names[1]).principal_id, UAMI.principal_id)
        at_rg = [a.name for a in ra.list_for_resource_group(RG) if a.name in names]
        self.assertEqual(sorted(at_rg), sorted(names))  # above, at and below the group
        only = [a.name for a in ra.list_for_scope(rg_path(RG), filter="atScope()")
                if a.name in names]
        self.assertEqual(sorted(only), sorted(names[:2]))
        mine = list(ra.list_for_subscription(filter="principalId eq '%s'" % UAMI.principal_id))
        self.assertEqual(len(mine), 3)
        mine = list(ra.list_for_subscription(filter="assignedTo('%s')" % UAMI.principal_id))
        self.assertEqual(len(mine), 3)
        gone = ra.delete(UAMI.id, names[2])
        self.assertEqual(gone.name, names[2])
        self.assertIsNone(ra.delete(UAMI.id, names[2]))  # 204
        with self.assertRaises(ResourceNotFoundError):
            ra.get(UAMI.id, names[2])

    def test_principal_not_found_while_replicating(self):
        sim = Armsim("--principal-lag-ms", "1500", "--throttle", "off",
                     "--client", "%s:%s" % (CLIENT, SECRET))
        try:
            client(ResourceManagementClient, sim).resource_groups.create_or_update(
                "lag", {"location": "westus"})
            ident = client(ManagedServiceIdentityClient, sim).user_assigned_identities \
                .create_or_update("lag", "fresh", {"location": "westus"})
            ra = client(AuthorizationManagementClient, sim).role_assignments
            body = {"role_definition_id": role_def(READER), "principal_id": ident.principal_id,
                    "principal_type": "ServicePrincipal"}
            with self.assertRaises(HttpResponseError) as cm:
                ra.create(rg_path("lag"), "7a9e0000-0000-4000-8000-000000000001", body)
            self.assertEqual(cm.exception.status_code, 400)
            self.assertEqual(cm.exception.error.code, "PrincipalNotFound")
            time.sleep(1.6)
            got = ra.create(rg_path("lag"), "7a9e0000-0000-4000-8000-000000000001", body)
            self.assertEqual(got.principal_id, ident.principal_id)
        finally:
            sim.stop()

    def test_role_change_refused(self):
        ra = self.auth.role_assignments
        name = "5e1f0000-0000-4000-8000-000000000001"
        ra.create(rg_path(RG), name, {"role_definition_id": role_def(KV_SECRETS_USER),
                                      "principal_id": "33333333-3333-3333-3333-333333333333"})
        with self.assertRaises(HttpResponseError) as cm:
            ra.create(rg_path(RG), name, {"role_definition_id": role_def(READER),
                                          "principal_id": "33333333-3333-3333-3333-333333333333"})
        self.assertEqual(cm.exception.status_code, 400)


class PolicyAssignments(unittest.TestCase):
    def test_crud_at_scopes(self):
        pc = client(PolicyClient, SIM)
        pa = pc.policy_assignments
        body = {"policy_definition_id": "/providers/Microsoft.Authorization/policyDefinitions/"
                                        "0a914e76-4921-4c19-b460-a2d36003525a",
                "enforcement_mode": "DoNotEnforce", "metadata": {"dsvmops-object": "Pool/a"},
                "identity": {"type": "SystemAssigned"}, "location": "northeurope"}
        for scope in ("/subscriptions/%s" % SUB, rg_path(RG), UAMI.id):
            created = pa.create(scope, "ama-policy", body)  # 201 also on update
            again = pa.create(scope, "ama-policy", body)
            self.assertEqual(again.identity.principal_id, created.identity.principal_id)
            self.assertEqual(created.scope.lower(), scope.lower())
            self.assertEqual(created.not_scopes, [])  # server default
            raw = SIM.request("GET", created.id + "?api-version=2025-03-01", token=SIM.token())[2]
            self.assertRegex(raw["properties"]["instanceId"], r"^[0-9a-f-]{36}$")
            self.assertEqual(created.metadata, {"dsvmops-object": "Pool/a"})
        self.assertEqual(pa.get(rg_path(RG), "ama-policy").enforcement_mode, "DoNotEnforce")
        upd = pa.update(rg_path(RG), "ama-policy", {"identity": {"type": "None"}})
        self.assertEqual(upd.identity.type, "None")
        self.assertIsNone(upd.identity.principal_id)
        self.assertEqual(upd.metadata, {"dsvmops-object": "Pool/a"})
        self.assertGreaterEqual(len(list(pa.list_for_resource_group(RG))), 2)
        self.assertEqual(len(list(pa.list())), 3)
        deleted = pa.delete(UAMI.id, "ama-policy")
        self.assertEqual(deleted.name, "ama-policy")
        self.assertIsNone(pa.delete(UAMI.id, "ama-policy"))
        with self.assertRaises(ResourceNotFoundError):
            pa.get(UAMI.id, "ama-policy")


if __name__ == "__main__":
    unittest.main(argv=sys.argv[:1], verbosity=2, warnings="ignore")
