package dev.parley.recorder.internal

import java.io.BufferedOutputStream
import java.io.Closeable
import java.io.OutputStream
import java.nio.file.Files
import java.nio.file.Path
import java.nio.file.StandardCopyOption

/** Where a recorder's lines go; used by its writer thread only. Each file (or stream) starts with [header]. */
internal abstract class RecordSink(
    private val header: () -> String,
) : Closeable {
    /** Bytes written through this sink, headers included. */
    var bytesWritten = 0L
        private set

    /** Files started after the first. */
    var rotations = 0
        private set

    private var out: OutputStream? = null
    private var bytesInCurrent = 0L

    protected abstract fun open(): OutputStream

    /** Moves the full current file aside, once it is closed; called only when [maxBytes] would be passed. */
    protected open fun rotate() {}

    /** The size a file may reach; a sink without rotation has no limit, so [rotate] is never called for it. */
    protected open val maxBytes: Long get() = Long.MAX_VALUE

    private var headerBytes = 0L

    fun write(line: String) {
        val bytes = line.toByteArray(Charsets.UTF_8)
        current()
        // A file holds at least one entry after its header, however large, so an oversized frame is still recorded.
        if (bytesInCurrent + bytes.size + 1 > maxBytes && bytesInCurrent > headerBytes) {
            out?.close()
            out = null
            rotate()
            rotations++
        }
        put(current(), bytes)
    }

    fun flush() {
        out?.flush()
    }

    override fun close() {
        out?.close()
        out = null
    }

    private fun current(): OutputStream = out ?: BufferedOutputStream(open(), BUFFER).also {
        out = it
        bytesInCurrent = 0
        val bytes = header().toByteArray(Charsets.UTF_8)
        put(it, bytes)
        headerBytes = bytes.size + 1L
    }

    private fun put(stream: OutputStream, bytes: ByteArray) {
        stream.write(bytes)
        stream.write('\n'.code)
        bytesInCurrent += bytes.size + 1
        bytesWritten += bytes.size + 1
    }

    private companion object {
        const val BUFFER = 64 * 1024
    }
}

/** One stream, never rotated; closing the sink closes the stream. */
internal class StreamSink(
    private val stream: OutputStream,
    header: () -> String,
) : RecordSink(header) {
    override fun open(): OutputStream = stream
}

/**
 * A file that moves aside when it reaches [maxFileBytes]: `session.jsonl` becomes `session.1.jsonl`, the one before
 * becomes `session.2.jsonl`, and so on; the oldest beyond [maxFiles] is deleted.
 */
internal class RotatingFileSink(
    private val path: Path,
    private val maxFileBytes: Long,
    private val maxFiles: Int,
    header: () -> String,
) : RecordSink(header) {
    override val maxBytes: Long get() = maxFileBytes

    override fun open(): OutputStream {
        path.toAbsolutePath().parent?.let { Files.createDirectories(it) }
        return Files.newOutputStream(path)
    }

    override fun rotate() {
        if (maxFiles == 1) {
            Files.deleteIfExists(path)
            return
        }
        Files.deleteIfExists(rotatedFile(path, maxFiles - 1))
        for (i in maxFiles - 2 downTo 1) {
            val from = rotatedFile(path, i)
            if (Files.exists(from)) Files.move(from, rotatedFile(path, i + 1), StandardCopyOption.REPLACE_EXISTING)
        }
        Files.move(path, rotatedFile(path, 1), StandardCopyOption.REPLACE_EXISTING)
    }
}

/** The [n]-th older file of the recording at [path]: `session.jsonl` → `session.n.jsonl`. */
internal fun rotatedFile(path: Path, n: Int): Path {
    val name = path.fileName.toString()
    val dot = name.lastIndexOf('.')
    val rotated = if (dot > 0) "${name.substring(0, dot)}.$n${name.substring(dot)}" else "$name.$n"
    return path.resolveSibling(rotated)
}
