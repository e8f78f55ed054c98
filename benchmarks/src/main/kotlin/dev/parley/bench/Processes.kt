package dev.parley.bench

import java.io.File
import java.io.FileOutputStream
import java.net.InetAddress
import java.net.ServerSocket
import java.util.concurrent.LinkedBlockingQueue
import java.util.concurrent.TimeUnit

/**
 * A child JVM: its stdout lines are the protocol (read on a thread into a queue, and copied to the log), its stderr
 * goes straight to the log file.
 */
class ChildProcess(
    command: List<String>,
    log: File,
) {
    private val process: Process =
        ProcessBuilder(command)
            .redirectError(ProcessBuilder.Redirect.appendTo(log.apply { parentFile.mkdirs() }))
            .start()
            .also { live += it }
    private val lines = LinkedBlockingQueue<String>()
    private val reader =
        Thread({
            FileOutputStream(log, true).bufferedWriter().use { copy ->
                process.inputStream.bufferedReader().forEachLine {
                    lines.add(it)
                    copy.appendLine(it)
                    copy.flush()
                }
            }
        }, "child-stdout").apply {
            isDaemon = true
            start()
        }

    /** The next stdout line starting with [prefix] (others are skipped), or null on timeout or exit. */
    fun awaitLine(prefix: String, timeoutMillis: Long): String? {
        val deadline = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(timeoutMillis)
        while (System.nanoTime() < deadline) {
            val line = lines.poll(50, TimeUnit.MILLISECONDS)
            if (line != null) {
                if (line.startsWith(prefix)) return line
            } else if (!process.isAlive) {
                reader.join(1_000) // the last lines may still be on their way
                return generateSequence { lines.poll() }.firstOrNull { it.startsWith(prefix) }
            }
        }
        return null
    }

    fun send(line: String) {
        process.outputStream.write("$line\n".toByteArray())
        process.outputStream.flush()
    }

    /** Waits for a voluntary exit, then kills. */
    fun finish(graceMillis: Long = 5_000) {
        if (!process.waitFor(graceMillis, TimeUnit.MILLISECONDS)) kill()
    }

    /** SIGKILL, as a crash would: the kernel closes the sockets, no close frames are sent. */
    fun kill() {
        process.destroyForcibly()
        process.waitFor(10, TimeUnit.SECONDS)
    }

    private companion object {
        /** Every child started, so that none outlives this JVM (Ctrl-C, a kill, a failure). */
        val live: MutableSet<Process> = java.util.Collections.newSetFromMap(java.util.concurrent.ConcurrentHashMap())

        init {
            Runtime.getRuntime().addShutdownHook(Thread { live.filter { it.isAlive }.forEach { it.destroyForcibly() } })
        }
    }
}

/**
 * Starts child JVMs with this JVM's java and classpath, from a private copy of the classpath's build outputs (see
 * [Snapshot]) unless this JVM already runs from one. Children still alive when this JVM exits are killed.
 */
class Launcher(
    private val logDir: File,
) : AutoCloseable {
    private val snapshot = if (Snapshot.active) null else Snapshot.take()
    private val classpath = snapshot?.classpath ?: System.getProperty("java.class.path")

    fun start(jvmArgs: List<String>, mainClass: String, args: List<String>, logName: String): ChildProcess =
        ChildProcess(
            listOf(JAVA) + jvmArgs + listOf("-cp", classpath, mainClass) + args,
            File(logDir, "$logName.log"),
        )

    override fun close() {
        snapshot?.delete()
    }

    companion object {
        val JAVA: String = File(System.getProperty("java.home"), "bin/java").path

        fun freePort(): Int = ServerSocket(0, 1, InetAddress.getLoopbackAddress()).use { it.localPort }
    }
}

/**
 * A private copy of the build outputs on the classpath (anything under a `target/` directory: this module's classes,
 * Parley's jars). A run takes 15 minutes; other people's `mvn clean` or rebuilds in the meantime must not pull classes
 * out from under it. Jars from the local Maven repository are used in place: they do not change.
 */
class Snapshot private constructor(
    private val dir: File,
    val classpath: String,
) {
    fun delete() {
        dir.deleteRecursively()
    }

    companion object {
        /** Set in JVMs that already run from a snapshot (the harness re-executes itself from one). */
        const val PROPERTY = "parley.bench.snapshot"
        val active: Boolean get() = System.getProperty(PROPERTY) != null

        fun take(): Snapshot {
            val dir = kotlin.io.path.createTempDirectory("parley-bench-cp").toFile()
            val entries =
                System.getProperty("java.class.path").split(File.pathSeparator).mapIndexed { i, entry ->
                    val source = File(entry)
                    if (!source.exists() || "${File.separator}target${File.separator}" !in source.absolutePath) {
                        entry
                    } else {
                        File(dir, "$i-${source.name}").also { source.copyRecursively(it) }.path
                    }
                }
            return Snapshot(dir, entries.joinToString(File.pathSeparator))
        }
    }
}

/** The echo server's process, restartable on the same ports; with [keyStore], also on one TLS port per protocol. */
class ServerControl(
    private val launcher: Launcher,
    val port: Int,
    val keyStore: File? = null,
) {
    /** The wss port of each protocol in [TlsCert.PROTOCOLS] (empty without a keystore). */
    val tlsPorts: Map<String, Int> =
        if (keyStore == null) emptyMap() else TlsCert.PROTOCOLS.associateWith { Launcher.freePort() }

    private var child: ChildProcess? = null
    private var starts = 0

    /** Starts the server, warmed up for [warmupMillis]; returns when it listened, in epoch µs. */
    fun start(warmupMillis: Long): Long {
        check(child == null) { "server already running" }
        val server =
            launcher.start(
                listOf("-Xmx2g", "-XX:+UseG1GC"),
                EchoServer::class.java.name,
                listOf(port.toString(), warmupMillis.toString()) +
                    listOfNotNull(keyStore?.path) + tlsPorts.values.map { it.toString() },
                "server-${++starts}",
            )
        child = server
        val line = server.awaitLine("LISTENING ", 60_000)
        if (line == null) {
            server.kill()
            child = null
            error("echo server did not start (see its log)")
        }
        return line.split(' ')[2].toLong()
    }

    /** Starts the server unless it is running (after a failed reconnect run, it may not be). */
    fun ensureRunning(warmupMillis: Long) {
        if (child == null) start(warmupMillis)
    }

    fun kill() {
        child?.kill()
        child = null
    }
}
