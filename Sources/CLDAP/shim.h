#ifndef DLSMS_CLDAP_SHIM_H
#define DLSMS_CLDAP_SHIM_H
#include <ldap.h>
#include <openldap.h> /* ldap_init_fd */

/* Macros Swift does not import (casts, pointers), as constants. */
static const int CLDAP_SCOPE_SUBTREE = LDAP_SCOPE_SUBTREE;
static const int CLDAP_TLS_PROTOCOL_TLS1_2 = LDAP_OPT_X_TLS_PROTOCOL_TLS1_2;
#endif
