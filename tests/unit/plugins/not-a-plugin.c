/* A shared object that is not a modvm plugin: it exports no descriptor. */
__attribute__((visibility("default"))) int not_a_plugin_function(void);
int not_a_plugin_function(void)
{
    return 42;
}
