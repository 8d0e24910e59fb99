/* placeholder */
#include "commands.h"
int fer_cmd_info(int argc, char **argv) { (void)argc; (void)argv; return 1; }
