/**
 * Parley's Kotlin client. A real module descriptor rather than an Automatic-Module-Name: the Kotlin standard library,
 * kotlinx-coroutines and SLF4J are explicit modules, which a modular application resolves only when some module
 * requires them. It lives in META-INF/versions/11 of a multi-release jar, where class-path users and Android ignore it.
 */
module dev.parley {
    requires transitive kotlin.stdlib;
    requires transitive kotlinx.coroutines.core;
    requires org.slf4j;
    requires io.ktor.network;
    requires io.ktor.network.tls;
    requires io.ktor.http;
    requires io.ktor.io;
    requires io.ktor.utils;
    // HdrHistogram's jar names no module, so this is the name Java derives from its file name (stable for Maven's
    // HdrHistogram-<version>.jar).
    requires HdrHistogram;
    // Ktor's jars are automatic modules, which declare nothing: the explicit modules they load classes from must be
    // required by someone, and that is us.
    requires kotlinx.io.core;
    requires kotlinx.io.bytestring;
    requires kotlinx.serialization.core;

    exports dev.parley;
    exports dev.parley.transport;
}
