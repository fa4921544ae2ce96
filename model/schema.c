/*
 * JSON Schema (draft-07) of the manifests, generated from the same field
 * tables that drive parsing, so the editor's view and the validator agree.
 */
#include <string.h>

#include "dsvmops/error.h"
#include "internal.h"

static json_t *object_schema(const obj_desc *d);

static json_t *enum_array(const char *const *e)
{
    json_t *a = json_array();
    size_t i;

    for (i = 0; a && e[i]; i++)
        json_array_append_new(a, json_string(e[i]));
    return a;
}

static json_t *field_schema(const field_desc *f)
{
    json_t *s = NULL;
    char doc[256];

    switch (f->type) {
    case FT_STRING:
        s = json_pack("{s:s}", "type", "string");
        if (s && f->enums)
            json_object_set_new(s, "enum", enum_array(f->enums));
        if (s && f->fmt)
            json_object_set_new(s, "description", json_string(dsvm_formats[f->fmt].text));
        if (s && f->name_rule)
            json_object_set_new(s, "description", json_string(dsvm_name_rules[f->name_rule].text));
        if (s && (f->flags & FD_DEF) && f->dstr)
            json_object_set_new(s, "default", json_string(f->dstr));
        break;
    case FT_INT:
        s = json_pack("{s:s,s:I,s:I}", "type", "integer", "minimum", (json_int_t)f->min, "maximum",
                      (json_int_t)f->max);
        if (s && (f->flags & FD_DEF))
            json_object_set_new(s, "default", json_integer((json_int_t)f->dint));
        break;
    case FT_BOOL:
        s = json_pack("{s:s}", "type", "boolean");
        if (s && (f->flags & FD_DEF))
            json_object_set_new(s, "default", json_boolean(f->dint != 0));
        break;
    case FT_ENUM:
        s = json_pack("{s:s,s:o}", "type", "string", "enum", enum_array(f->enums));
        if (s && (f->flags & FD_DEF))
            json_object_set_new(s, "default", json_string(f->enums[f->dint]));
        break;
    case FT_STRMAP:
        s = json_pack("{s:s,s:{s:s}}", "type", "object", "additionalProperties", "type", "string");
        break;
    case FT_OBJECT:
        s = object_schema(f->sub);
        break;
    case FT_LIST:
        s = json_pack("{s:s,s:o}", "type", "array", "items", field_schema(f->item));
        if (s && (f->flags & FD_NONEMPTY))
            json_object_set_new(s, "minItems", json_integer(1));
        if (s && f->dlist)
            json_object_set_new(s, "default", enum_array(f->dlist));
        break;
    case FT_REF:
        snprintf(doc, sizeof(doc), "name of a %s object", dsvm_kinds[f->ref_kind].name);
        s = json_pack("{s:s,s:s}", "type", "string", "description", doc);
        break;
    case FT_KINDREF: {
        size_t n = 0;
        int k;

        for (k = 0; k < DSVM_KIND_COUNT; k++) {
            if (f->kinds & (1u << k)) {
                int w =
                    snprintf(doc + n, sizeof(doc) - n, "%s%s", n ? "|" : "", dsvm_kinds[k].name);

                if (w > 0 && (size_t)w < sizeof(doc) - n)
                    n += (size_t)w;
            }
        }
        s = json_pack("{s:s,s:s++}", "type", "string", "pattern", "^(", doc, ")/[^/]+$");
        break;
    }
    case FT_SECRET:
        s = json_pack("{s:s,s:s}", "$ref", "#/definitions/SecretRef", "description",
                      "a Key Vault reference; never a literal secret");
        return s;
    case FT_SUBNET:
        s = json_pack("{s:s,s:s}", "type", "string", "description",
                      "Network-name/subnet-name or an ARM subnet ID");
        break;
    case FT_ANY:
        s = json_pack("{s:s}", "type", "object");
        break;
    case FT_UNION:
        s = json_pack("{s:[o,o]}", "oneOf", field_schema(f->item), object_schema(f->sub));
        break;
    }
    if (s && f->doc)
        json_object_set_new(s, "description", json_string(f->doc));
    return s;
}

static json_t *object_schema(const obj_desc *d)
{
    json_t *props = json_object(), *req = json_array();
    json_t *s = NULL;
    size_t i;

    if (!props || !req)
        goto fail;
    for (i = 0; i < d->n_fields; i++) {
        const field_desc *f = &d->fields[i];
        json_t *fs = field_schema(f);

        if (!fs || json_object_set_new(props, f->name, fs) != 0)
            goto fail;
        if (f->flags & FD_REQUIRED)
            json_array_append_new(req, json_string(f->name));
    }
    s = json_pack("{s:s,s:o,s:b}", "type", "object", "properties", props, "additionalProperties",
                  0);
    props = NULL;
    if (!s)
        goto fail;
    if (json_array_size(req))
        json_object_set(s, "required", req);
    if (d->flags & OD_ONE_KEY) {
        json_object_set_new(s, "minProperties", json_integer(1));
        json_object_set_new(s, "maxProperties", json_integer(1));
    }
    json_decref(req);
    return s;
fail:
    json_decref(props);
    json_decref(req);
    json_decref(s);
    return NULL;
}

static json_t *kind_schema(dsvm_kind k)
{
    const kind_desc *kd = &dsvm_kinds[k];
    json_t *meta = object_schema(&dsvm_metadata_desc);
    json_t *spec = object_schema(kd->spec);
    json_t *req = json_pack("[s,s,s]", "apiVersion", "kind", "metadata");
    json_t *meta_req = json_pack("[s]", "name");

    if (!meta || !spec || !req || !meta_req) {
        json_decref(meta);
        json_decref(spec);
        json_decref(req);
        json_decref(meta_req);
        return NULL;
    }
    if (kd->spec_required)
        json_array_append_new(req, json_string("spec"));
    if (kd->rg_rule == RG_REQUIRED)
        json_array_append_new(meta_req, json_string("resourceGroup"));
    if (kd->rg_rule == RG_FORBIDDEN)
        json_object_del(json_object_get(meta, "properties"), "resourceGroup");
    json_object_set_new(meta, "required", meta_req);
    json_object_set_new(json_object_get(json_object_get(meta, "properties"), "name"), "description",
                        json_string(dsvm_name_rules[kd->name_rule].text));
    return json_pack("{s:s,s:s,s:s,s:{s:{s:s},s:{s:s},s:o,s:o},s:o,s:b}", "title", kd->name,
                     "description", kd->doc, "type", "object", "properties", "apiVersion", "const",
                     DSVM_API_VERSION, "kind", "const", kd->name, "metadata", meta, "spec", spec,
                     "required", req, "additionalProperties", 0);
}

int dsvm_schema_build(json_t **out, const char *kind)
{
    json_t *root = NULL, *defs, *one_of;
    dsvm_kind only = DSVM_KIND_COUNT;
    int k;

    if (kind && dsvm_kind_lookup(&only, kind) != 0) {
        dsvm_error_set(DSVM_ERRCLASS_MANIFEST, "unknown kind \"%s\"", kind);
        return DSVM_ENOTFOUND;
    }
    defs = json_object();
    one_of = json_array();
    if (!defs || !one_of)
        goto oom;
    if (json_object_set_new(defs, "SecretRef", object_schema(&dsvm_secret_desc)) != 0)
        goto oom;
    for (k = 0; k < DSVM_KIND_COUNT; k++) {
        char ref[64];

        if (kind && k != (int)only)
            continue;
        if (json_object_set_new(defs, dsvm_kinds[k].name, kind_schema((dsvm_kind)k)) != 0)
            goto oom;
        snprintf(ref, sizeof(ref), "#/definitions/%s", dsvm_kinds[k].name);
        json_array_append_new(one_of, json_pack("{s:s}", "$ref", ref));
    }
    root =
        json_pack("{s:s,s:s,s:s,s:s,s:o,s:o}", "$schema", "http://json-schema.org/draft-07/schema#",
                  "$id", "https://dsvmops.io/schemas/v1/manifests.json", "title",
                  "dsvmops manifests (" DSVM_API_VERSION ")", "description",
                  "One document of a dsvmops desired-state repository; generated by "
                  "'dsvmops schema'.",
                  "definitions", defs, "oneOf", one_of);
    defs = one_of = NULL;
    if (!root)
        goto oom;
    *out = root;
    return 0;
oom:
    json_decref(defs);
    json_decref(one_of);
    return dsvm_error_oom();
}
