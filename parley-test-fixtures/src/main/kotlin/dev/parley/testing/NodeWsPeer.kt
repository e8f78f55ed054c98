package dev.parley.testing

import java.io.File
import java.util.concurrent.CompletableFuture
import java.util.concurrent.TimeUnit
import kotlin.concurrent.thread

/**
 * npm's `ws` server (a WebSocket server nobody on this project wrote) running `.ci/peers/ws-peer.js` in a Node.js
 * process of its own, on 127.0.0.1 and a port the system picks. Paths:
 * - `/echo` echoes text and binary;
 * - `/ping?every=N` pings every N ms and echoes; the text `pongs?` is answered with `pongs <count>`;
 * - `/close?code=C&reason=R` closes at once with that code and reason;
 * - `/destroy?after=N` echoes N messages, then drops TCP without a close frame;
 * - `/silent` completes the upgrade, then neither sends nor reads anything;
 * - `/reject?status=S` answers the upgrade request with HTTP status S.
 *
 * [deflate] turns permessage-deflate on in the server. `.ci/install-peers` installs the pinned `ws`.
 */
class NodeWsPeer(
    deflate: Boolean = false,
) : AutoCloseable {
    private val process: Process

    /** The port the server listens on. */
    val port: Int

    init {
        val dir = peersDirectory()
        process =
            ProcessBuilder(findBinary("node", "/usr/bin/node"), File(dir, "ws-peer.js").path)
                .directory(dir)
                .redirectErrorStream(true)
                .apply {
                    environment()["PORT"] = "0"
                    environment()["PMD"] = if (deflate) "1" else "0"
                }.start()
        val output = process.inputStream.bufferedReader()
        // The script prints "listening <port>" once it accepts connections: no port to guess, no polling.
        val first =
            try {
                CompletableFuture.supplyAsync { output.readLine() }.get(START_SECONDS, TimeUnit.SECONDS)
            } catch (e: Exception) {
                process.destroyForcibly()
                throw IllegalStateException("node ws-peer.js did not start within $START_SECONDS s", e)
            }
        if (first == null || !first.startsWith("listening ")) {
            process.destroyForcibly()
            throw IllegalStateException("node ws-peer.js failed to start: $first")
        }
        port = first.removePrefix("listening ").trim().toInt()
        // Keep reading what it prints, so a full pipe never blocks it.
        thread(isDaemon = true, name = "ws-peer-$port-output") { output.lineSequence().forEach { } }
    }

    /** `ws://127.0.0.1:<port><path>`. */
    fun url(path: String): String = "ws://$LOOPBACK:$port$path"

    override fun close() {
        process.destroy()
        if (!process.waitFor(STOP_SECONDS, TimeUnit.SECONDS)) process.destroyForcibly()
    }

    private companion object {
        const val START_SECONDS = 15L
        const val STOP_SECONDS = 5L

        /** `.ci/peers` of this checkout, found upwards from the working directory (a module's, under Maven). */
        fun peersDirectory(): File {
            var dir: File? = File(System.getProperty("user.dir")).absoluteFile
            while (dir != null) {
                val peers = File(dir, ".ci/peers")
                if (File(peers, "node_modules/ws").isDirectory) return peers
                dir = dir.parentFile
            }
            throw IllegalStateException(
                "npm's ws is not installed under .ci/peers: run .ci/install-peers to install the third-party test peers",
            )
        }
    }
}
