/* Lookup of the files cmake/embed.cmake built into the binary. */
#include "embed.h"

#include <string.h>

const embed_file_t *embed_get(const char *name)
{
    for (unsigned i = 0; i < embed_count; i++)
        if (strcmp(embed_files[i].name, name) == 0)
            return &embed_files[i];
    return NULL;
}
