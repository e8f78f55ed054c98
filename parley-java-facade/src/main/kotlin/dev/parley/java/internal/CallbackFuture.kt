package dev.parley.java.internal

import java.util.concurrent.CompletableFuture
import java.util.concurrent.CompletionStage
import java.util.concurrent.Executor
import java.util.concurrent.TimeUnit
import java.util.function.BiConsumer
import java.util.function.BiFunction
import java.util.function.Consumer
import java.util.function.Function

/**
 * A future whose dependents always run on [executor], however it completes: `thenRun`, `whenComplete` and the other
 * non-async stages behave as their `…Async(…, executor)` twins, and so do the stages built from them.
 *
 * The facade completes its futures where the outcome is known — usually the client's own thread, as a frame is
 * written — which costs nothing when nobody listens. A dependent, though, must never run there (a slow or blocking
 * one would stall the connection), and a plain CompletableFuture runs it on whichever thread completes it.
 *
 * Waiting for it (`get`, `join`) inside one of the client's listener callbacks ([callbacks]) fails at once with
 * IllegalStateException while it is not done: the client goes on only once the callback returns, so that wait would
 * never end.
 */
internal class CallbackFuture<T>(
    private val executor: Executor,
    private val callbacks: SerialExecutor,
    /** More clients' callbacks where waiting must fail too: a pool's future may depend on any of its members. */
    private val alsoCallbacks: List<SerialExecutor> = emptyList(),
) : CompletableFuture<T>() {
    override fun <U> newIncompleteFuture(): CompletableFuture<U> = CallbackFuture(executor, callbacks, alsoCallbacks)

    override fun get(): T {
        checkMayWait()
        return super.get()
    }

    override fun get(timeout: Long, unit: TimeUnit): T {
        checkMayWait()
        return super.get(timeout, unit)
    }

    override fun join(): T {
        checkMayWait()
        return super.join()
    }

    private fun checkMayWait() =
        check(isDone || (!callbacks.isCurrent && alsoCallbacks.none { it.isCurrent })) { WAIT_IN_CALLBACK_RULE }

    override fun defaultExecutor(): Executor = executor

    override fun <U> thenApply(fn: Function<in T, out U>): CompletableFuture<U> = thenApplyAsync(fn, executor)

    override fun thenAccept(action: Consumer<in T>): CompletableFuture<Void> = thenAcceptAsync(action, executor)

    override fun thenRun(action: Runnable): CompletableFuture<Void> = thenRunAsync(action, executor)

    override fun <U, V> thenCombine(
        other: CompletionStage<out U>,
        fn: BiFunction<in T, in U, out V>,
    ): CompletableFuture<V> = thenCombineAsync(other, fn, executor)

    override fun <U> thenAcceptBoth(
        other: CompletionStage<out U>,
        action: BiConsumer<in T, in U>,
    ): CompletableFuture<Void> = thenAcceptBothAsync(other, action, executor)

    override fun runAfterBoth(other: CompletionStage<*>, action: Runnable): CompletableFuture<Void> =
        runAfterBothAsync(other, action, executor)

    override fun <U> applyToEither(other: CompletionStage<out T>, fn: Function<in T, U>): CompletableFuture<U> =
        applyToEitherAsync(other, fn, executor)

    override fun acceptEither(other: CompletionStage<out T>, action: Consumer<in T>): CompletableFuture<Void> =
        acceptEitherAsync(other, action, executor)

    override fun runAfterEither(other: CompletionStage<*>, action: Runnable): CompletableFuture<Void> =
        runAfterEitherAsync(other, action, executor)

    override fun <U> thenCompose(fn: Function<in T, out CompletionStage<U>>): CompletableFuture<U> =
        thenComposeAsync(fn, executor)

    override fun whenComplete(action: BiConsumer<in T?, in Throwable?>): CompletableFuture<T> =
        whenCompleteAsync(action, executor)

    override fun <U> handle(fn: BiFunction<in T?, Throwable?, out U>): CompletableFuture<U> = handleAsync(fn, executor)

    // exceptionallyAsync only exists from Java 12 on; this is its equivalent for Java 11 and Android.
    override fun exceptionally(fn: Function<Throwable, out T>): CompletableFuture<T> =
        handleAsync({ value, failure -> if (failure == null) value else fn.apply(failure) }, executor)
}

internal const val WAIT_IN_CALLBACK_RULE =
    "waited inside a listener callback for a future of the same client: it can only complete once the callback has " +
        "returned. Chain a dependent (thenRun, whenComplete) instead of waiting"
