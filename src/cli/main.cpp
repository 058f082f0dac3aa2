#include <cstdio>

#include "pagellm_version.h"

int main() {
  std::printf("pagellm %s\n", PAGELLM_VERSION);
  return 0;
}
