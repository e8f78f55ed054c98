/**
 * Parley's Kotlin client. A real module descriptor rather than an Automatic-Module-Name: the Kotlin standard library,
 * kotlinx-coroutines and SLF4J are explicit modules, which a modular application resolves only when some module
 * requires them. It lives in META-INF/versions/11 of a multi-release jar, where class-path users and Android ignore it.
 */
module dev.parley {
    requires transitive kotlin.stdlib;
    requires transitive kotlinx.coroutines.core;
    requires org.slf4j;
    // HdrHistogram's and tls-channel's jars name no module, so these are the names Java derives from their file
    // names (stable for Maven's HdrHistogram-<version>.jar and tls-channel-<version>.jar).
    requires HdrHistogram;
    requires tls.channel;

    exports dev.parley;
    exports dev.parley.transport;
}
