/*
 * The versioned image alias table (docs/manifests.md, "Images"). Each row
 * gives the marketplace image, the OS family and, for Batch, the node
 * agent SKU. Version: AZ_IMAGE_TABLE_VERSION.
 */
#include <string.h>

#include "azure.h"

static const az_image images[] = {
    {"ubuntu-2204", "microsoft-dsvm", "ubuntu-2204", "2204-gen2", "linux",
     "batch.node.ubuntu 22.04"},
    {"win-2022", "microsoft-dsvm", "dsvm-win-2022", "winserver-2022", "windows",
     "batch.node.windows amd64"},
    {"win-2019", "microsoft-dsvm", "dsvm-win-2019", "server-2019", "windows",
     "batch.node.windows amd64"},
    {"ubuntu-hpc-2204", "microsoft-dsvm", "ubuntu-hpc", "2204", "linux", "batch.node.ubuntu 22.04"},
};

const az_image *az_image_find(const char *alias)
{
    size_t i;

    for (i = 0; alias && i < sizeof(images) / sizeof(images[0]); i++)
        if (strcmp(images[i].alias, alias) == 0)
            return &images[i];
    return NULL;
}
