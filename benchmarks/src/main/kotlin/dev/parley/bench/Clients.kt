package dev.parley.bench

import dev.parley.bench.clients.JavaWebSocketBenchClient
import dev.parley.bench.clients.JdkBenchClient
import dev.parley.bench.clients.JettyBenchClient
import dev.parley.bench.clients.KtorClient
import dev.parley.bench.clients.OkHttpBenchClient
import dev.parley.bench.clients.ParleyJavaClient
import dev.parley.bench.clients.ParleyKotlinClient
import java.util.Properties

/**
 * A client under test: its id on the command line, its label in tables and charts, and how to make one (trusting the
 * echo server's certificate when given a [BenchTls], for wss runs). [only] limits it to those workloads (null: all).
 */
class ClientKind(
    val id: String,
    val label: String,
    val short: String,
    val only: Set<String>? = null,
    val create: (BenchTls?) -> BenchClient,
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
            // In the callback-driven workloads this row answers with HandlerAction.Push from onFrame, the handler's
            // own way to reply; the next row is the same client answering with trySend inside onFrame.
            ClientKind("parley-kotlin", "Parley ${v("parley")} (Kotlin)", "Parley Kt") {
                ParleyKotlinClient(it, replyWithTrySend = false)
            },
            ClientKind(
                "parley-kotlin-trysend",
                "Parley ${v("parley")} (Kotlin, trySend in onFrame)",
                "Parley Kt trySend",
                only = Workloads.CALLBACK_DRIVEN,
            ) { ParleyKotlinClient(it, replyWithTrySend = true) },
            ClientKind(
                "parley-kotlin-compress-all",
                "Parley ${v("parley")} (Kotlin, compression threshold 0)",
                "Parley Kt deflate all",
                only = setOf("cb-json"),
            ) { ParleyKotlinClient(it, replyWithTrySend = false, compressAll = true) },
            ClientKind("parley-java", "Parley ${v("parley")} (Java facade)", "Parley Java") { ParleyJavaClient(it) },
            ClientKind(BASELINE, "raw Ktor CIO ${v("ktor")}", "Ktor CIO") { KtorClient(it) },
            ClientKind("okhttp", "OkHttp ${v("okhttp")}", "OkHttp") { OkHttpBenchClient(it) },
            ClientKind("java-websocket", "Java-WebSocket ${v("java-websocket")}", "Java-WS") {
                JavaWebSocketBenchClient(it)
            },
            ClientKind("jdk", "JDK java.net.http (${System.getProperty("java.version")})", "JDK") {
                JdkBenchClient(it)
            },
            ClientKind("jetty", "Jetty ${v("jetty")}", "Jetty") { JettyBenchClient(it) },
        )

    /** Parley's faces: everyone else is a peer, for the "best peer" ratios. */
    val PARLEY = setOf("parley-kotlin", "parley-kotlin-trysend", "parley-java")

    fun byId(id: String): ClientKind =
        all.firstOrNull { it.id == id } ?: error("unknown client '$id'; known: ${all.joinToString { it.id }}")
}
