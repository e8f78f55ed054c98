package dev.parley.bench

/**
 * One workload as the harness runs it: [key] names it in results, [workload] is what the client process runs,
 * [params] its parameters. [rounds] caps how many rounds include it (null: every round). Only clients in [clients]
 * run it (null: all). With [tls] (a protocol of [TlsCert.PROTOCOLS]) it runs over wss on that protocol's port.
 */
data class WorkloadSpec(
    val key: String,
    val workload: String,
    val params: Map<String, Any>,
    val timeoutSeconds: Long,
    val rounds: Int? = null,
    val clients: Set<String>? = null,
    val tls: String? = null,
)

/** How much to run: a tiny smoke plan for CI, and the full plan (about 40 minutes on 2 cores). */
data class Plan(
    val mode: String,
    val rounds: Int,
    val workloads: List<WorkloadSpec>,
    /** Server warm-up at each round's start, and at each restart during the reconnect workload. */
    val serverWarmupMillis: Long,
    val restartWarmupMillis: Long,
    /** Restarts per reconnect run, and how long the server stays down each time. */
    val reconnectCycles: Int,
    val downMillis: Long,
    /** JVM flags for every client process (the same for all clients). */
    val clientJvm: List<String>,
) {
    companion object {
        /** Clients with automatic reconnection (the others have none). */
        val RECONNECTING = setOf("parley-kotlin", "parley-java")
        private const val FOREVER = Long.MAX_VALUE
        private const val BACKOFF_MS = 100

        fun smoke() = Plan(
            mode = "smoke",
            rounds = 1,
            workloads =
            listOf(
                text(warmupCount = 200, count = 2_000, warmupMs = FOREVER, durationMs = FOREVER, timeout = 60),
                binary(warmupCount = 20, count = 200, warmupMs = FOREVER, durationMs = FOREVER, timeout = 60),
                rtt(warmupCount = 20, count = 200, warmupMs = FOREVER, durationMs = FOREVER, timeout = 60),
                connect(warmupCount = 2, count = 20, timeout = 60),
                idle(connections = 50, settleMs = 100, timeout = 60),
                reconnect(timeout = 60),
                text(200, 2_000, FOREVER, FOREVER, timeout = 60).callbackDriven(),
                binary(20, 200, FOREVER, FOREVER, timeout = 60).callbackDriven(),
                rtt(20, 200, FOREVER, FOREVER, timeout = 60).callbackDriven(),
            ) + wss { rtt(20, 200, FOREVER, FOREVER, timeout = 60) } + wss { binary(20, 200, FOREVER, FOREVER, 60) } +
                json(200, 2_000, FOREVER, FOREVER, timeout = 60),
            serverWarmupMillis = 300,
            restartWarmupMillis = 100,
            reconnectCycles = 1,
            downMillis = 200,
            // C1 only: a smoke run checks that everything works, not how fast, and C1 halves each JVM's run time.
            clientJvm = listOf("-Xmx3g", "-XX:+UseG1GC", "-XX:TieredStopAtLevel=1"),
        )

        fun full() = Plan(
            mode = "full",
            // About 13 minutes on 2 cores without the cb-* and wss-* workloads (a round takes about 3 minutes, and
            // 10,000 idle connections, once, 1.5); those add roughly 7 minutes a round (estimated, not yet measured).
            rounds = 4,
            workloads =
            listOf(
                // Throughput runs are bounded by time, not count, so that a slow client cannot stretch the run.
                // Warm-ups are long enough for the JIT to settle: with 1.5 s, C2 compilation still took half of the
                // CPU samples of a 4 s run on 2 cores, and clients with more code to compile were measured compiling.
                text(FOREVER, FOREVER, warmupMs = 4_000, durationMs = 2_500, timeout = 120),
                binary(FOREVER, FOREVER, warmupMs = 3_000, durationMs = 2_500, timeout = 120),
                rtt(warmupCount = 30_000, count = 10_000, warmupMs = 3_000, durationMs = 5_000, timeout = 120),
                connect(warmupCount = 20, count = 200, timeout = 120),
                idle(connections = 1_000, settleMs = 1_000, timeout = 180),
                idle(connections = 10_000, settleMs = 1_000, timeout = 300, rounds = 1),
                reconnect(timeout = 300),
                // The callback-driven and wss runs: the same counts and warm-ups as their driver-thread twins.
                text(FOREVER, FOREVER, warmupMs = 4_000, durationMs = 2_500, timeout = 120).callbackDriven(),
                binary(FOREVER, FOREVER, warmupMs = 3_000, durationMs = 2_500, timeout = 120).callbackDriven(),
                rtt(30_000, 10_000, warmupMs = 3_000, durationMs = 5_000, timeout = 120).callbackDriven(),
            ) +
                wss { rtt(30_000, 10_000, warmupMs = 3_000, durationMs = 5_000, timeout = 120) } +
                wss { binary(FOREVER, FOREVER, warmupMs = 3_000, durationMs = 2_500, timeout = 120) } +
                json(FOREVER, FOREVER, warmupMs = 3_000, durationMs = 2_500, timeout = 120),
            serverWarmupMillis = 3_000,
            restartWarmupMillis = 300,
            reconnectCycles = 4,
            downMillis = 300,
            // A fixed collector, so that no client gets another one by machine ergonomics.
            clientJvm = listOf("-Xmx3g", "-XX:+UseG1GC"),
        )

        /** `cb-<key>`: the same workload with every send made from the receive callback ([CallbackEchoes]). */
        private fun WorkloadSpec.callbackDriven() = copy(key = "cb-$key", workload = "cb-$workload")

        /** `wss-<key>-tls13` and `wss-<key>-tls12`: the same workload over wss, once per TLS protocol. */
        private fun wss(spec: () -> WorkloadSpec): List<WorkloadSpec> = TlsCert.PROTOCOLS.map { protocol ->
            val base = spec()
            val suffix = protocol.removePrefix("TLSv").replace(".", "")
            base.copy(key = "wss-${base.key}-tls$suffix", tls = protocol, params = base.params + ("tls" to protocol))
        }

        private fun text(warmupCount: Long, count: Long, warmupMs: Long, durationMs: Long, timeout: Long) =
            WorkloadSpec(
                "text",
                "text",
                mapOf(
                    "size" to 64,
                    "window" to 512,
                    "warmupCount" to warmupCount,
                    "warmupMs" to warmupMs,
                    "count" to count,
                    "durationMs" to durationMs,
                ),
                timeout,
            )

        private fun binary(warmupCount: Long, count: Long, warmupMs: Long, durationMs: Long, timeout: Long) =
            WorkloadSpec(
                "binary",
                "binary",
                mapOf(
                    "size" to 16 * 1024,
                    "window" to 32,
                    "warmupCount" to warmupCount,
                    "warmupMs" to warmupMs,
                    "count" to count,
                    "durationMs" to durationMs,
                ),
                timeout,
            )

        /**
         * `cb-json` and `cb-json-deflate`: 300-char market-data JSON messages, callback-driven with 64 in flight, on
         * the plain echo and on the one that agrees permessage-deflate with whoever offers it.
         */
        private fun json(warmupCount: Long, count: Long, warmupMs: Long, durationMs: Long, timeout: Long) =
            listOf("cb-json" to "/echo", "cb-json-deflate" to "/echo-deflate").map { (key, path) ->
                WorkloadSpec(
                    key,
                    "cb-json",
                    mapOf(
                        "size" to 300,
                        "window" to 64,
                        "warmupCount" to warmupCount,
                        "warmupMs" to warmupMs,
                        "count" to count,
                        "durationMs" to durationMs,
                        "path" to path,
                    ),
                    timeout,
                )
            }

        private fun rtt(warmupCount: Long, count: Long, warmupMs: Long, durationMs: Long, timeout: Long) = WorkloadSpec(
            "rtt",
            "rtt",
            mapOf(
                "size" to 64,
                "warmupCount" to warmupCount,
                "warmupMs" to warmupMs,
                "count" to count,
                "durationMs" to durationMs,
            ),
            timeout,
        )

        private fun connect(warmupCount: Int, count: Int, timeout: Long) =
            WorkloadSpec("connect", "connect", mapOf("warmupCount" to warmupCount, "count" to count), timeout)

        private fun idle(connections: Int, settleMs: Int, timeout: Long, rounds: Int? = null) = WorkloadSpec(
            "idle-${if (connections % 1000 == 0) "${connections / 1000}k" else "$connections"}",
            "idle",
            // A cap on live threads: a thread-per-connection client must not exhaust the machine's pids (32,768
            // here, shared with everything else running).
            mapOf(
                "connections" to connections,
                "concurrency" to 64,
                "maxThreads" to 12_000,
                "settleMs" to settleMs,
            ),
            timeout,
            rounds,
        )

        private fun reconnect(timeout: Long) =
            WorkloadSpec("reconnect", "reconnect", mapOf("backoffMs" to BACKOFF_MS), timeout, clients = RECONNECTING)
    }
}
