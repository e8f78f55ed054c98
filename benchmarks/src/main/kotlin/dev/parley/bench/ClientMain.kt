package dev.parley.bench

import com.fasterxml.jackson.databind.ObjectMapper
import java.net.URI

/**
 * One client process: `ClientMain client=<id> workload=<name> url=ws://… key=value…`. Runs the workload with that
 * client and prints one line, `BENCH-RESULT {json}`, then exits (without closing the connections: the process is done).
 */
object ClientMain {
    const val RESULT_PREFIX = "BENCH-RESULT "
    private val json = ObjectMapper()

    @JvmStatic
    fun main(args: Array<String>) {
        val params = Params.parse(args)
        val clientId = params.string("client")
        val workload = params.string("workload")
        val result = linkedMapOf<String, Any?>("client" to clientId, "workload" to workload)
        val status =
            try {
                // Only wss runs get a client that trusts the echo server's certificate; ws runs keep the defaults.
                val tls = params.stringOrNull("trustStore")?.let { BenchTls.trusting(java.io.File(it)) }
                val client = Clients.byId(clientId).create(tls)
                val metrics = Workloads(client, URI(params.string("url")), params).run(workload)
                result["ok"] = metrics["ok"] ?: true
                result.putAll(metrics)
                result["notes"] = client.notes
                0
            } catch (e: ConnectUnsupported) {
                e.printStackTrace()
                result["ok"] = false
                result["unsupported"] = true
                result["error"] = e.message
                result["detail"] = causes(e.cause)
                0
            } catch (e: Throwable) {
                e.printStackTrace()
                result["ok"] = false
                result["error"] = causes(e)
                1
            }
        say(RESULT_PREFIX + json.writeValueAsString(result))
        // halt, not exit: some libraries' shutdown hooks or non-daemon threads would only slow the exit down.
        Runtime.getRuntime().halt(status)
    }

    private fun causes(e: Throwable?) = generateSequence(e) {
        it.cause
    }.joinToString(" <- ") { it.toString() }.take(500)
}
