#define MHD_DL_DEFINE
#include <dlfcn.h>
#include <stdio.h>

#include "mhd.h"

#define MHD_DL_DEF(f) __typeof__(f) *dl_##f;
MHD_FUNCS(MHD_DL_DEF)

int
mhd_load(char *err, size_t errlen)
{
    static void *lib;
    const char *missing = NULL;

    if (lib != NULL) {
        return 0;
    }
    if ((lib = dlopen(MHD_LIBRARY, RTLD_NOW | RTLD_LOCAL)) == NULL) {
        snprintf(err, errlen, "cannot load %s (%s); install libmicrohttpd12", MHD_LIBRARY,
                 dlerror());
        return -1;
    }
#define MHD_DL_SYM(f)                                                                              \
    if ((*(void **)&dl_##f = dlsym(lib, #f)) == NULL && missing == NULL) {                         \
        missing = #f;                                                                              \
    }
    MHD_FUNCS(MHD_DL_SYM)
    if (missing != NULL) {
        snprintf(err, errlen, "%s has no %s", MHD_LIBRARY, missing);
        dlclose(lib);
        lib = NULL;
        return -1;
    }
    return 0;
}
