"""armsim conformance with Debian's Azure SDK: virtual networks and subnets, network
security groups, public IP addresses and Standard load balancers."""

import sys
import unittest

from harness import Armsim, client, rg_path, CLIENT, SECRET

from azure.core.exceptions import ResourceNotFoundError
from azure.mgmt.resource import ResourceManagementClient
from azure.mgmt.network import NetworkManagementClient

SIM = None
RG = "net-rg"


def setUpModule():
    global SIM
    SIM = Armsim("--lro-ms", "150", "--throttle", "off", "--client", "%s:%s" % (CLIENT, SECRET))
    client(ResourceManagementClient, SIM).resource_groups.create_or_update(
        RG, {"location": "westeurope"})


def tearDownModule():
    SIM.stop()


class Network(unittest.TestCase):
    def setUp(self):
        self.nm = client(NetworkManagementClient, SIM)

    def test_vnet_and_subnets(self):
        vn = self.nm.virtual_networks
        poller = vn.begin_create_or_update(RG, "Hub", {
            "location": "westeurope",
            "address_space": {"address_prefixes": ["10.0.0.0/16"]},
            "subnets": [{"name": "pools", "address_prefix": "10.0.1.0/24"}]})
        net = poller.result()
        self.assertEqual(poller.status(), "Succeeded")
        self.assertEqual(net.provisioning_state, "Succeeded")
        self.assertRegex(net.resource_guid, r"^[0-9a-f-]{36}$")
        self.assertEqual(net.subnets[0].id, net.id + "/subnets/pools")
        self.assertIsNotNone(net.etag)
        sub = self.nm.subnets.begin_create_or_update(RG, "hub", "batch", {
            "address_prefix": "10.0.2.0/24"}).result()
        self.assertEqual(sub.provisioning_state, "Succeeded")
        self.assertEqual(sub.id, net.id + "/subnets/batch")
        got = vn.get(RG, "hub")
        self.assertEqual(sorted(s.name for s in got.subnets), ["batch", "pools"])
        self.assertEqual(sorted(s.name for s in self.nm.subnets.list(RG, "hub")), ["batch", "pools"])
        self.assertEqual(self.nm.subnets.get(RG, "HUB", "Pools").address_prefix, "10.0.1.0/24")
        tagged = vn.update_tags(RG, "hub", {"tags": {"env": "dev"}})
        self.assertEqual(tagged.tags, {"env": "dev"})
        self.assertEqual(len(tagged.subnets), 2)
        self.nm.subnets.begin_delete(RG, "hub", "batch").result()
        with self.assertRaises(ResourceNotFoundError):
            self.nm.subnets.get(RG, "hub", "batch")
        self.assertIn("Hub", [v.name for v in vn.list(RG)])
        self.assertIn("Hub", [v.name for v in vn.list_all()])
        vn.begin_delete(RG, "hub").result()
        with self.assertRaises(ResourceNotFoundError):
            vn.get(RG, "hub")

    def test_subnet_needs_vnet(self):
        with self.assertRaises(ResourceNotFoundError) as cm:
            self.nm.subnets.begin_create_or_update(RG, "novnet", "s",
                                                   {"address_prefix": "10.1.0.0/24"}).result()
        self.assertEqual(cm.exception.error.code, "ParentResourceNotFound")

    def test_nsg(self):
        nsg = self.nm.network_security_groups.begin_create_or_update(RG, "pool-nsg", {
            "location": "westeurope",
            "security_rules": [{"name": "ssh", "protocol": "Tcp", "access": "Allow",
                                "direction": "Inbound", "priority": 100,
                                "source_address_prefix": "*", "source_port_range": "*",
                                "destination_address_prefix": "*",
                                "destination_port_range": "22"}]}).result()
        self.assertEqual(nsg.security_rules[0].id, nsg.id + "/securityRules/ssh")
        self.assertEqual(len(nsg.default_security_rules), 6)  # server defaults
        self.assertIn("DenyAllInBound", [r.name for r in nsg.default_security_rules])
        self.nm.network_security_groups.begin_delete(RG, "pool-nsg").result()
        with self.assertRaises(ResourceNotFoundError):
            self.nm.network_security_groups.get(RG, "pool-nsg")

    def test_public_ip_and_standard_lb(self):
        pip = self.nm.public_ip_addresses.begin_create_or_update(RG, "lb-ip", {
            "location": "westeurope", "sku": {"name": "Standard"},
            "public_ip_allocation_method": "Static"}).result()
        self.assertRegex(pip.ip_address, r"^\d+\.\d+\.\d+\.\d+$")
        self.assertEqual(pip.public_ip_address_version, "IPv4")  # server default
        self.assertEqual(pip.idle_timeout_in_minutes, 4)
        basic = self.nm.public_ip_addresses.begin_create_or_update(
            RG, "basic-ip", {"location": "westeurope"}).result()
        self.assertEqual(basic.sku.name, "Basic")
        self.assertEqual(basic.public_ip_allocation_method, "Dynamic")
        lb_id = rg_path(RG) + "/providers/Microsoft.Network/loadBalancers/pool-lb"
        lb = self.nm.load_balancers.begin_create_or_update(RG, "pool-lb", {
            "location": "westeurope", "sku": {"name": "Standard"},
            "frontend_ip_configurations": [{"name": "fe", "public_ip_address": {"id": pip.id}}],
            "backend_address_pools": [{"name": "be"}],
            "probes": [{"name": "ssh", "protocol": "Tcp", "port": 22,
                        "interval_in_seconds": 5, "number_of_probes": 2}],
            "inbound_nat_rules": [{"name": "ssh-0", "protocol": "Tcp",
                                   "frontend_ip_configuration": {"id": lb_id +
                                                                 "/frontendIPConfigurations/fe"},
                                   "frontend_port": 50000, "backend_port": 22}],
        }).result()
        self.assertEqual(lb.sku.name, "Standard")
        self.assertEqual(lb.frontend_ip_configurations[0].id, lb.id + "/frontendIPConfigurations/fe")
        self.assertEqual(lb.backend_address_pools[0].id, lb.id + "/backendAddressPools/be")
        self.assertEqual(lb.inbound_nat_rules[0].frontend_port, 50000)
        # frontends list the rules that use them, as Network answers
        self.assertEqual([r.id for r in lb.frontend_ip_configurations[0].inbound_nat_rules],
                         [lb.id + "/inboundNatRules/ssh-0"])
        self.assertEqual(lb.probes[0].type, "Microsoft.Network/loadBalancers/probes")
        self.assertEqual(lb.frontend_ip_configurations[0].public_ip_address.id, pip.id)
        self.assertIn("pool-lb", [x.name for x in self.nm.load_balancers.list(RG)])
        self.nm.load_balancers.begin_delete(RG, "pool-lb").result()
        self.nm.public_ip_addresses.begin_delete(RG, "lb-ip").result()
        with self.assertRaises(ResourceNotFoundError):
            self.nm.public_ip_addresses.get(RG, "lb-ip")


if __name__ == "__main__":
    unittest.main(argv=sys.argv[:1], verbosity=2, warnings="ignore")
