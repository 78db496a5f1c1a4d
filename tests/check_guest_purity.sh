#!/usr/bin/env bash
# Fails if the guest core archive needs the heap, exceptions or RTTI from the C++ runtime.
set -euo pipefail
lib=$1
forbidden='^(_Znwm|_Znam|_ZnwmRKSt9nothrow_t|_ZnamRKSt9nothrow_t|_ZdlPv|_ZdaPv|_ZdlPvm|_ZdaPvm|malloc|calloc|realloc|free|__cxa_throw|__cxa_allocate_exception|__cxa_begin_catch|__gxx_personality_v0|_ZTI.*|_ZTS.*|__dynamic_cast)$'
undefined=$(nm -u --format=posix "$lib" | grep -v ':$' | awk '{print $1}' | sort -u)
bad=$(grep -E "$forbidden" <<<"$undefined" || true)
if [[ -n $bad ]]; then
  echo "guest core $lib needs forbidden runtime symbols:"; echo "$bad"; exit 1
fi
echo "guest core needs only: $(tr '\n' ' ' <<<"$undefined")"
