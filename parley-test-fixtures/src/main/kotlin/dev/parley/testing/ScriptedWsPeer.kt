package dev.parley.testing

import java.io.File
import java.util.concurrent.CompletableFuture
import java.util.concurrent.TimeUnit
import kotlin.concurrent.thread

/**
 * A WebSocket server nobody on this project wrote, scripted by `.ci/peers`: npm's `ws` ([npmWs], `ws-peer.js` under
 * Node.js), Debian's python3-websockets ([pythonWebsockets], `websockets-peer.py`) or WebSocket-Node
 * ([websocketNode], an echo with its default limits), in a process of its own, on 127.0.0.1 and a port the system
 * picks. The `ws` and python3-websockets scripts serve the same paths:
 * - `/echo` echoes text and binary;
 * - `/ping?every=N` pings every N ms and echoes; the text `pongs?` is answered with `pongs <count>`;
 * - `/close?code=C&reason=R` closes at once with that code and reason;
 * - `/destroy?after=N` echoes N messages, then drops TCP without a close frame;
 * - `/silent` completes the upgrade, then neither sends nor reads anything;
 * - `/reject?status=S` answers the upgrade request with HTTP status S;
 * - `/fragments?count=N` echoes each message as N frames (one fragmented message, compressed as one with deflate);
 * - `/extensions` first sends `extensions <the request's Sec-WebSocket-Extensions>`, then echoes;
 * - `/jsonrpc` (npm `ws` only) is a JSON-RPC 2.0 server: `echo` answers with its params, `later` after `params.ms`
 *   milliseconds, `fail` with error -32000, `notify` sends a notification first; other methods get -32601.
 *
 * `deflate` turns permessage-deflate on in the server, with `deflateOptions` (JSON: ws's `perMessageDeflate` options,
 * or the keyword arguments of python3-websockets' `ServerPerMessageDeflateFactory`). `.ci/install-peers` installs
 * them.
 */
class ScriptedWsPeer private constructor(
    /** Which server, for test names and messages. */
    val name: String,
    command: List<String>,
    deflate: Boolean,
    deflateOptions: String,
) : AutoCloseable {
    private val process: Process

    /** The port the server listens on. */
    val port: Int

    init {
        process =
            ProcessBuilder(command)
                .directory(peersDirectory())
                .redirectErrorStream(true)
                .apply {
                    environment()["PORT"] = "0"
                    environment()["PMD"] = if (deflate) "1" else "0"
                    environment()["PMD_OPTIONS"] = deflateOptions
                }.start()
        val output = process.inputStream.bufferedReader()
        // The script prints "listening <port>" once it accepts connections: no port to guess, no polling.
        val first =
            try {
                CompletableFuture.supplyAsync { output.readLine() }.get(START_SECONDS, TimeUnit.SECONDS)
            } catch (e: Exception) {
                process.destroyForcibly()
                throw IllegalStateException("$name did not start within $START_SECONDS s", e)
            }
        if (first == null || !first.startsWith("listening ")) {
            process.destroyForcibly()
            throw IllegalStateException("$name failed to start: $first")
        }
        port = first.removePrefix("listening ").trim().toInt()
        // Keep reading what it prints, so a full pipe never blocks it.
        thread(isDaemon = true, name = "$name-$port-output") { output.lineSequence().forEach { } }
    }

    /** `ws://127.0.0.1:<port><path>`. */
    fun url(path: String): String = "ws://$LOOPBACK:$port$path"

    override fun close() {
        process.destroy()
        if (!process.waitFor(STOP_SECONDS, TimeUnit.SECONDS)) process.destroyForcibly()
    }

    override fun toString(): String = name

    /** The servers. */
    companion object {
        private const val START_SECONDS = 15L
        private const val STOP_SECONDS = 5L

        /** npm's `ws` on Node.js. */
        fun npmWs(deflate: Boolean = false, deflateOptions: String = "{}"): ScriptedWsPeer {
            val script = File(peersDirectory(), "ws-peer.js").path
            return ScriptedWsPeer(
                "npm ws",
                listOf(findBinary("node", "/usr/bin/node"), script),
                deflate,
                deflateOptions,
            )
        }

        /**
         * WebSocket-Node (npm `websocket`) with its defaults: it echoes on any path (none of the paths above) and
         * closes with 1009 on a frame over 64 KiB.
         */
        fun websocketNode(): ScriptedWsPeer {
            val script = File(peersDirectory(), "websocket-node-peer.js").path
            return ScriptedWsPeer("WebSocket-Node", listOf(findBinary("node", "/usr/bin/node"), script), false, "{}")
        }

        /**
         * Debian's python3-websockets. Debian's own interpreter, /usr/bin/python3, since a python3 earlier on PATH
         * (pyenv, a virtualenv) does not see Debian's packages.
         */
        fun pythonWebsockets(deflate: Boolean = false, deflateOptions: String = "{}"): ScriptedWsPeer {
            val python = File("/usr/bin/python3").takeIf { it.canExecute() }?.path ?: findBinary("python3", "python3")
            val script = File(peersDirectory(), "websockets-peer.py").path
            return ScriptedWsPeer("python3-websockets", listOf(python, script), deflate, deflateOptions)
        }

        /** `.ci/peers` of this checkout, found upwards from the working directory (a module's, under Maven). */
        private fun peersDirectory(): File {
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
