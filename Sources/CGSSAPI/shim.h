#ifndef CGSSAPI_SHIM_H
#define CGSSAPI_SHIM_H
#include <gssapi/gssapi.h>
#include <gssapi/gssapi_krb5.h>

/// `GSS_ERROR` is a function-like macro; Swift cannot import it.
static inline int cgssapi_is_error(OM_uint32 major) { return GSS_ERROR(major) != 0; }
/// The name types and the mechanism, as functions: Swift 6 refuses the C globals (mutable shared state).
static inline gss_OID cgssapi_nt_hostbased_service(void) { return GSS_C_NT_HOSTBASED_SERVICE; }
static inline gss_OID cgssapi_nt_user_name(void) { return GSS_C_NT_USER_NAME; }
static inline gss_OID cgssapi_mech_krb5(void) { return gss_mech_krb5; }
#endif
