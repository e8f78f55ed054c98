package dev.parley.bench

import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.Test
import java.io.File

/**
 * The benchmark harness, end to end with tiny counts, so that it cannot rot: every client's adapter echoes from the
 * driver's thread (text), from its own receive callback (cb-text) and over wss (wss-binary-tls12), and every workload
 * runs with Parley (every face) and raw Ktor. Real processes on 127.0.0.1, as in a full run; about 100 s on 2 cores.
 */
class HarnessSmokeTest {
    private val plan = Plan.smoke()
    private val out = File("target/smoke-test")

    /** Clients whose TLS is the JDK's (SSLEngine/SSLSocket): they must open both wss ports. */
    private val jdkTls = setOf("okhttp", "java-websocket", "jdk", "jetty")

    @Test
    fun `every client echoes and every workload produces sane figures`() {
        val perClient = listOf("text", "cb-text", "wss-binary-tls12")
        val everyClient = Harness.run(Options(plan, File(out, "clients"), Clients.all, workloads(perClient)))
        // The rest with Parley's faces and Ktor; the wss variants (the same code as rtt and binary, which every
        // client's TLS setup already passed above) with fewer clients, to keep the test short: one client whose TLS
        // is the JDK's proves the TLS 1.3 port, and Parley shows its n/a path there until it speaks TLS 1.3.
        val parleyAndKtor = (Clients.PARLEY + Clients.BASELINE).map { Clients.byId(it) }
        val wssFew =
            mapOf(
                "wss-rtt-tls12" to setOf("parley-kotlin"),
                "wss-rtt-tls13" to setOf("parley-kotlin", "jdk"),
                "wss-binary-tls13" to setOf("jdk"),
                // One client that agrees deflate and one that offers none, on the deflating echo.
                "cb-json" to setOf("parley-kotlin"),
                "cb-json-deflate" to setOf("parley-kotlin", "ktor"),
            )
        val rest =
            plan.workloads.filter { it.key !in perClient }.map { spec ->
                val few = wssFew[spec.key] ?: parleyAndKtor.map { it.id }.toSet()
                spec.copy(clients = spec.clients?.intersect(few) ?: few) // reconnect: only clients that reconnect
            }
        val everyWorkload =
            Harness.run(Options(plan, File(out, "workloads"), parleyAndKtor + Clients.byId("jdk"), rest))

        val runs = everyClient.runs + everyWorkload.runs
        val expected =
            workloads(perClient).sumOf { Harness.runners(it, Clients.all).size } +
                rest.sumOf { Harness.runners(it, parleyAndKtor + Clients.byId("jdk")).size }
        assertTrue(runs.size == expected) { "unexpected runs: ${runs.map { it.key to it.client }}" }
        for (run in runs) {
            if (run.metrics["unsupported"] == true) {
                // A wss port a client cannot use is reported, not hidden: only TLS 1.3, only for clients whose TLS
                // is not the JDK's (ktor-network-tls has no TLS 1.3), and with the reason.
                assertTrue(run.key.endsWith("-tls13") && run.client !in jdkTls && !run.error.isNullOrBlank()) {
                    "${run.key} with ${run.client} could not connect: ${run.error} (logs in $out)"
                }
                continue
            }
            assertTrue(run.ok) { "${run.key} with ${run.client} failed: ${run.error} (logs in $out)" }
            val m = run.metrics.mapValues { (_, v) -> (v as? Number)?.toDouble() }
            fun has(metric: String, sane: (Double) -> Boolean) {
                val value = m[metric]
                assertTrue(value != null && sane(value)) { "${run.key} with ${run.client}: $metric = $value" }
            }
            when (run.key.removePrefix("cb-").removePrefix("wss-").removeSuffix("-tls13").removeSuffix("-tls12")) {
                "text" -> {
                    has("messages") { it == 2_000.0 }
                    has("msgsPerSec") { it > 0 }
                }

                "binary" -> {
                    has("messages") { it == 200.0 }
                    has("mbPerSec") { it > 0 }
                }

                "rtt" -> {
                    has("roundTrips") { it == 200.0 }
                    has("p50Us") { it > 0 && it <= m["p99Us"]!! && m["p99Us"]!! <= m["p999Us"]!! }
                }

                "connect" -> has("p50Ms") { it > 0 && it <= m["p99Ms"]!! }

                "json", "json-deflate" -> {
                    has("messages") { it == 2_000.0 }
                    has("msgsPerSec") { it > 0 }
                    // 300-char messages: over 300 bytes a frame as they are, far fewer where deflate was agreed.
                    val compressed = run.key == "cb-json-deflate" && run.client == "parley-kotlin"
                    has("wireBytesDownPerMsg") { if (compressed) it < 150 else it > 300 }
                }

                "idle-50" -> {
                    has("connections") { it == 50.0 }
                    has("heapKiBPerConn") { it > 0 }
                    has("threads") { it >= 0 }
                }

                // Zero is sane: the kernel accepts a connection as soon as the new server listens, which can be
                // before the harness's "UP" timestamp (a client that retries every few ms then beats it; seen: -1.6 ms).
                "reconnect" -> {
                    has("reconnects") { it >= 1 }
                    has("p50Ms") { it >= 0 && it < 10_000 }
                }

                else -> error("unexpected workload ${run.key}")
            }
        }
        for (dir in listOf("clients", "workloads")) {
            for (file in listOf("results.json", "results.md", "chart.png")) {
                assertTrue(File(out, "$dir/$file").length() > 0) { "$dir/$file was not written" }
            }
        }
    }

    private fun workloads(keys: List<String>) = plan.workloads.filter { it.key in keys }
}
