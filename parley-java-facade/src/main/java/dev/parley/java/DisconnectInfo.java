package dev.parley.java;

import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Objects;

/**
 * Why a connection or a connection attempt ended. Which getters are meaningful depends on {@link #kind()};
 * {@link #explanation()} says it in one line and {@link #recoverable()} whether another attempt can help.
 */
public final class DisconnectInfo {
    /** The kinds of disconnect, one per cause. */
    public enum Kind {
        /** {@link ParleyWebSocket#disconnect} closed it: {@link #closeCode()}, {@link #closeReason()}, {@link #acknowledged()}. */
        CLOSED_LOCALLY,
        /** The peer sent a close frame: {@link #closeCode()} (1005 if it had none) and {@link #closeReason()}. */
        CLOSED_BY_PEER,
        /** A listener called {@link Reply#disconnect}: {@link #listenerReason()}, {@link #closeCode()}, {@link #acknowledged()}. */
        BY_LISTENER,
        /** DNS, TCP or TLS failed: {@link #cause()}. */
        CONNECT_FAILED,
        /** The server refused the upgrade: {@link #httpStatus()}, {@link #headers()}, {@link #message()}. */
        HANDSHAKE_REJECTED,
        /** The connect timeout elapsed. */
        CONNECT_TIMEOUT,
        /** The peer broke RFC 6455; Parley closed with {@link #closeCode()} (1002 or 1007): {@link #message()}. */
        PROTOCOL_VIOLATION,
        /** An inbound message exceeded the size limit; Parley closed with 1009. */
        MESSAGE_TOO_BIG,
        /** The connection broke without a close frame, or a read or write failed: {@link #cause()}. */
        TRANSPORT_FAILED,
        /** The heartbeat saw no pong and no other frame in time after a ping; the socket was aborted. */
        HEARTBEAT_TIMEOUT,
        /** Nothing could be written for the write timeout (the peer stopped reading); the socket was aborted. */
        WRITE_TIMEOUT,
        /** The connection info provider failed, or gave invalid info, for this attempt: {@link #cause()}. */
        CONNECTION_INFO_FAILED
    }

    private final Kind kind;
    private final int closeCode;
    private final String closeReason;
    private final boolean acknowledged;
    private final Object listenerReason;
    private final int httpStatus;
    private final Map<String, List<String>> headers;
    private final String message;
    private final Throwable cause;
    private final String explanation;
    private final boolean recoverable;
    private final Duration retryAfter;

    DisconnectInfo(Kind kind, int closeCode, String closeReason, boolean acknowledged, Object listenerReason,
                   int httpStatus, Map<String, List<String>> headers, String message, Throwable cause,
                   String explanation, boolean recoverable, Duration retryAfter) {
        this.kind = Objects.requireNonNull(kind);
        this.closeCode = closeCode;
        this.closeReason = closeReason;
        this.acknowledged = acknowledged;
        this.listenerReason = listenerReason;
        this.httpStatus = httpStatus;
        this.headers = headers;
        this.message = message;
        this.cause = cause;
        this.explanation = explanation;
        this.recoverable = recoverable;
        this.retryAfter = retryAfter;
    }

    /** The kind of disconnect. */
    public Kind kind() { return kind; }

    /** The close code sent or received, or 1006 when no close frame was exchanged. */
    public int closeCode() { return closeCode; }

    /** The close reason sent or received, possibly empty. */
    public String closeReason() { return closeReason; }

    /** Whether the peer answered our close frame in time. */
    public boolean acknowledged() { return acknowledged; }

    /** The value given to {@link Reply#disconnect}, or {@code null}. */
    public Object listenerReason() { return listenerReason; }

    /** The HTTP status of a rejected upgrade, or 0. */
    public int httpStatus() { return httpStatus; }

    /** The response headers of a rejected upgrade (lower-case names, secrets redacted), or an empty map. */
    public Map<String, List<String>> headers() { return headers; }

    /** A description for logs. */
    public String message() { return message; }

    /** The underlying failure, or {@code null}. */
    public Throwable cause() { return cause; }

    /**
     * What happened, in one line for people, e.g. "the server did not accept the credentials (HTTP 401
     * Unauthorized)". For logs and user interfaces; the wording may change, so decide on {@link #kind()} instead.
     */
    public String explanation() { return explanation; }

    /**
     * Parley's built-in verdict: whether another attempt can succeed. {@code false} only for a reason bound to repeat:
     * an upgrade refused with any status but 408, 429 and 5xx (so 401, 403, 404), a server certificate that does not
     * verify, a proxy that refuses our credentials. The builder's {@code recoveryPolicy} may decide otherwise, and
     * {@link ReconnectDecision#DEFAULT} follows that.
     */
    public boolean recoverable() { return recoverable; }

    /**
     * How long the server asked to wait before the next attempt (its {@code Retry-After}, at most an hour), or
     * {@code null}; the default decision does not reconnect sooner.
     */
    public Duration retryAfter() { return retryAfter; }

    @Override
    public String toString() { return "DisconnectInfo(" + kind + ": " + explanation + ")"; }
}
