/*
 * The resource graph: ordering, cycles, --target closure, depth, DOT, and
 * the scheduler's handling of failures and reverse (delete) order.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <jansson.h>

#include "dsvmops/error.h"
#include "graph.h"

/* rg <- id <- vault-access <- pool ; rg <- net <- pool ; rg <- other */
static const char chain[] =
    "[{\"id\":\"/rg\",\"type\":\"Microsoft.Resources/resourceGroups\",\"object\":\"ResourceGroup/"
    "rg\"},"
    "{\"id\":\"/rg/pool\",\"type\":\"Microsoft.Compute/virtualMachineScaleSets\",\"object\":\"Pool/"
    "p\","
    "\"dependsOn\":[\"/RG/ID\",\"/rg/access\",\"/rg/net\"]},"
    "{\"id\":\"/rg/id\",\"type\":\"Microsoft.ManagedIdentity/"
    "userAssignedIdentities\",\"dependsOn\":[\"/rg\"]},"
    "{\"id\":\"/rg/access\",\"type\":\"Microsoft.Authorization/roleAssignments\","
    "\"dependsOn\":[\"/rg/id\",\"/existing/outside\"]},"
    "{\"id\":\"/rg/net\",\"type\":\"Microsoft.Network/virtualNetworks\",\"dependsOn\":[\"/rg\"]},"
    "{\"id\":\"/rg/other\",\"type\":\"Microsoft.Storage/storageAccounts\",\"dependsOn\":[\"/"
    "rg\"]}]";

static dsvm_graph *graph_of(const char *text)
{
    json_t *res = json_loads(text, 0, NULL);
    dsvm_graph *g = NULL;

    assert_non_null(res);
    assert_int_equal(dsvm_graph_new(&g, res), 0);
    json_decref(res);
    return g;
}

static size_t node(const dsvm_graph *g, const char *id)
{
    size_t i = 0;

    assert_int_equal(dsvm_graph_find(&i, g, id), 0);
    return i;
}

/* Run a schedule to the end, recording the order; `fail` (or NULL) fails. */
static size_t run_all(dsvm_sched *s, size_t *order, size_t fail)
{
    size_t n = 0, i;

    while (dsvm_sched_next(&i, s) == 0) {
        order[n++] = i;
        dsvm_sched_done(s, i, i != fail);
    }
    return n;
}

static void graph_orders_dependencies_first(void **state)
{
    dsvm_graph *g = graph_of(chain);
    dsvm_sched *s = NULL;
    size_t order[8], pos[8], i, n;

    (void)state;
    assert_int_equal(dsvm_graph_size(g), 6);
    assert_int_equal(dsvm_sched_new(&s, g, 0, NULL), 0);
    n = run_all(s, order, (size_t)-1);
    assert_int_equal(n, 6);
    assert_true(dsvm_sched_finished(s));
    for (i = 0; i < n; i++)
        pos[order[i]] = i;
    assert_true(pos[node(g, "/rg")] < pos[node(g, "/rg/id")]);
    assert_true(pos[node(g, "/rg/id")] < pos[node(g, "/rg/access")]);
    assert_true(pos[node(g, "/rg/access")] < pos[node(g, "/rg/pool")]);
    assert_true(pos[node(g, "/rg/net")] < pos[node(g, "/rg/pool")]);
    assert_int_equal(dsvm_graph_depth(g), 4);
    dsvm_sched_free(s);
    dsvm_graph_free(g);
}

static void graph_runs_independent_nodes_in_parallel(void **state)
{
    dsvm_graph *g = graph_of(chain);
    dsvm_sched *s = NULL;
    size_t a, b, c, d;

    (void)state;
    assert_int_equal(dsvm_sched_new(&s, g, 0, NULL), 0);
    assert_int_equal(dsvm_sched_next(&a, s), 0);
    assert_int_equal(a, node(g, "/rg"));
    assert_int_equal(dsvm_sched_next(&b, s), DSVM_ENOTFOUND);
    dsvm_sched_done(s, a, 1);
    /* identity, network and storage all become ready at once */
    assert_int_equal(dsvm_sched_next(&b, s), 0);
    assert_int_equal(dsvm_sched_next(&c, s), 0);
    assert_int_equal(dsvm_sched_next(&d, s), 0);
    assert_int_equal(dsvm_sched_state(s, b), DSVM_NODE_RUNNING);
    assert_false(dsvm_sched_finished(s));
    dsvm_sched_free(s);
    dsvm_graph_free(g);
}

static void graph_failure_blocks_only_dependents(void **state)
{
    dsvm_graph *g = graph_of(chain);
    dsvm_sched *s = NULL;
    size_t order[8], n;

    (void)state;
    assert_int_equal(dsvm_sched_new(&s, g, 0, NULL), 0);
    n = run_all(s, order, node(g, "/rg/id"));
    assert_int_equal(n, 4); /* rg, id (failed), net, other */
    assert_int_equal(dsvm_sched_state(s, node(g, "/rg/id")), DSVM_NODE_FAILED);
    assert_int_equal(dsvm_sched_state(s, node(g, "/rg/access")), DSVM_NODE_BLOCKED);
    assert_int_equal(dsvm_sched_state(s, node(g, "/rg/pool")), DSVM_NODE_BLOCKED);
    assert_int_equal(dsvm_sched_state(s, node(g, "/rg/net")), DSVM_NODE_DONE);
    assert_int_equal(dsvm_sched_state(s, node(g, "/rg/other")), DSVM_NODE_DONE);
    assert_true(dsvm_sched_finished(s));
    dsvm_sched_free(s);
    dsvm_graph_free(g);
}

static void graph_reverse_schedule_deletes_dependents_first(void **state)
{
    dsvm_graph *g = graph_of(chain);
    dsvm_sched *s = NULL;
    size_t order[8], n;

    (void)state;
    assert_int_equal(dsvm_sched_new(&s, g, 1, NULL), 0);
    n = run_all(s, order, (size_t)-1);
    assert_int_equal(n, 6);
    assert_int_equal(order[n - 1], node(g, "/rg"));
    assert_int_equal(dsvm_sched_state(s, node(g, "/rg/pool")), DSVM_NODE_DONE);
    dsvm_sched_free(s);
    dsvm_graph_free(g);
}

static void graph_target_closure_selects_what_it_needs(void **state)
{
    dsvm_graph *g = graph_of(chain);
    unsigned char sel[6] = {0};
    dsvm_sched *s = NULL;
    size_t order[8], n;

    (void)state;
    dsvm_graph_closure(g, node(g, "/rg/access"), sel);
    assert_true(sel[node(g, "/rg/access")] && sel[node(g, "/rg/id")] && sel[node(g, "/rg")]);
    assert_false(sel[node(g, "/rg/pool")] || sel[node(g, "/rg/net")] || sel[node(g, "/rg/other")]);
    assert_int_equal(dsvm_sched_new(&s, g, 0, sel), 0);
    n = run_all(s, order, (size_t)-1);
    assert_int_equal(n, 3);
    assert_int_equal(dsvm_sched_state(s, node(g, "/rg/pool")), DSVM_NODE_SKIPPED);
    dsvm_sched_free(s);
    dsvm_graph_free(g);
}

static void graph_refuses_cycles_naming_them(void **state)
{
    json_t *res = json_loads("[{\"id\":\"/a\",\"dependsOn\":[\"/b\"]},"
                             "{\"id\":\"/b\",\"dependsOn\":[\"/c\"]},"
                             "{\"id\":\"/c\",\"dependsOn\":[\"/a\"]},{\"id\":\"/d\"}]",
                             0, NULL);
    dsvm_graph *g = NULL;

    (void)state;
    assert_int_equal(dsvm_graph_new(&g, res), DSVM_EINVALID);
    assert_null(g);
    assert_non_null(strstr(dsvm_error_last()->message, "dependency cycle through /"));
    json_decref(res);
}

static void graph_refuses_duplicate_ids(void **state)
{
    json_t *res = json_loads("[{\"id\":\"/a\"},{\"id\":\"/A\"}]", 0, NULL);
    dsvm_graph *g = NULL;

    (void)state;
    assert_int_equal(dsvm_graph_new(&g, res), DSVM_EINVALID);
    assert_non_null(strstr(dsvm_error_last()->message, "same resource /A"));
    json_decref(res);
}

static void graph_renders_dot(void **state)
{
    dsvm_graph *g = graph_of(chain);
    char *dot = NULL;

    (void)state;
    assert_int_equal(dsvm_graph_render_dot(&dot, g), 0);
    assert_non_null(strstr(dot, "digraph dsvmops {"));
    assert_non_null(strstr(dot, "label=\"virtualMachineScaleSets\\npool\\nPool/p\""));
    /* rg (node 0) -> identity (node 2) */
    assert_non_null(strstr(dot, "  n0 -> n2;\n"));
    free(dot);
    dsvm_graph_free(g);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(graph_orders_dependencies_first),
        cmocka_unit_test(graph_runs_independent_nodes_in_parallel),
        cmocka_unit_test(graph_failure_blocks_only_dependents),
        cmocka_unit_test(graph_reverse_schedule_deletes_dependents_first),
        cmocka_unit_test(graph_target_closure_selects_what_it_needs),
        cmocka_unit_test(graph_refuses_cycles_naming_them),
        cmocka_unit_test(graph_refuses_duplicate_ids),
        cmocka_unit_test(graph_renders_dot),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
