/* placeholder: being written */
typedef int fer_placeholder_naive;
