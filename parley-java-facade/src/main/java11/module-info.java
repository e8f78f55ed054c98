/**
 * Parley's Java facade. A real module descriptor, so that a modular application's {@code requires dev.parley.java}
 * brings in the Kotlin client and the explicit modules it needs (see dev.parley's descriptor).
 */
module dev.parley.java {
    requires transitive dev.parley;

    exports dev.parley.java;
}
