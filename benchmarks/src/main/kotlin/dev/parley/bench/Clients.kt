package dev.parley.bench

import dev.parley.bench.clients.JavaWebSocketBenchClient
import dev.parley.bench.clients.JdkBenchClient
import dev.parley.bench.clients.JettyBenchClient
import dev.parley.bench.clients.KtorClient
import dev.parley.bench.clients.OkHttpBenchClient
import dev.parley.bench.clients.ParleyJavaClient
import dev.parley.bench.clients.ParleyKotlinClient
import java.util.Properties

/** A client under test: its id on the command line, its label in tables and charts, and how to make one. */
class ClientKind(
    val id: String,
    val label: String,
    val short: String,
    val create: () -> BenchClient,
)

/** Every client, in the order each round runs them. Raw Ktor CIO is the baseline of every ratio. */
object Clients {
    const val BASELINE = "ktor"

    /** Library versions from the build (src/main/resources/bench-versions.properties, filtered by Maven). */
    val versions: Map<String, String> =
        Properties()
            .apply { Clients::class.java.getResourceAsStream("/bench-versions.properties")?.use { load(it) } }
            .entries
            .associate { (k, v) -> k.toString() to v.toString() }
            .toSortedMap()

    private fun v(key: String) = versions[key] ?: "?"

    val all: List<ClientKind> =
        listOf(
            ClientKind("parley-kotlin", "Parley ${v("parley")} (Kotlin)", "Parley Kt") { ParleyKotlinClient() },
            ClientKind("parley-java", "Parley ${v("parley")} (Java facade)", "Parley Java") { ParleyJavaClient() },
            ClientKind(BASELINE, "raw Ktor CIO ${v("ktor")}", "Ktor CIO") { KtorClient() },
            ClientKind("okhttp", "OkHttp ${v("okhttp")}", "OkHttp") { OkHttpBenchClient() },
            ClientKind("java-websocket", "Java-WebSocket ${v("java-websocket")}", "Java-WS") {
                JavaWebSocketBenchClient()
            },
            ClientKind("jdk", "JDK java.net.http (${System.getProperty("java.version")})", "JDK") { JdkBenchClient() },
            ClientKind("jetty", "Jetty ${v("jetty")}", "Jetty") { JettyBenchClient() },
        )

    fun byId(id: String): ClientKind =
        all.firstOrNull { it.id == id } ?: error("unknown client '$id'; known: ${all.joinToString { it.id }}")
}
