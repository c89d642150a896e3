/*
 * mavgate's UDP fast path (Linux): one recvmmsg(2) per wake-up instead of one recvmsg and
 * one JavaScript callback per datagram, and a synchronous sendmsg(2) of a frame vector.
 * Node's dgram costs a 64 KiB allocation, an address object and a callback per datagram;
 * at a few thousand datagrams a second that fixed cost is a relay's largest (see
 * docs/benchmarks.md). Everything else (policy, peers, decoding) stays in JavaScript: this
 * file only moves bytes, and src/links/datagram-socket.ts falls back to dgram without it.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <node_api.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>
#include <uv.h>

/* Datagrams read per recvmmsg; the poll is level-triggered, so more wake us again. */
#define BATCH 64
/* Room for the largest UDP payload, so no datagram is ever truncated. */
#define SLOT_BYTES 65536
/* Ints per datagram in the metadata array: length, port, family, address (4 words). */
#define META_INTS 7
#define MAX_IOV 1024

typedef struct {
  uv_poll_t poll;
  int fd;
  int family;
  int polling;
  int closed;
  /* libuv still holds the poll handle: the struct outlives the script's last reference until it lets go. */
  int closing;
  int finalized;
  napi_env env;
  napi_ref callback;
  napi_ref meta_ref;
  int32_t *meta;
  napi_async_context async;
  napi_ref resource;
  /* A receiving socket keeps itself alive, as a bound dgram socket does. */
  napi_ref self;
  struct sockaddr_storage peer;
  socklen_t peer_len;
} udp_socket;

/* One receive area for every socket: the thread handles one wake-up at a time, and pages
 * the kernel never writes to are never resident. mavgate opens its sockets on the main
 * thread only (no worker threads); an addon for several threads would need one per thread. */
static unsigned char *slots;
static struct mmsghdr headers[BATCH];
static struct iovec vectors[BATCH];
static struct sockaddr_storage sources[BATCH];

#define CALL(env, expr)                                \
  do {                                                 \
    if ((expr) != napi_ok) return throw_last(env);     \
  } while (0)

/* The arguments of a call whose first one is a socket: `argv`, `argc` and the socket `s`. */
#define SOCKET_ARGS(n)                                                  \
  size_t argc = (n);                                                    \
  napi_value argv[(n)];                                                 \
  CALL(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));     \
  udp_socket *s = unwrap(env, argv[0]);                                 \
  if (!s) return NULL

static udp_socket *unwrap(napi_env env, napi_value value);

static napi_value throw_last(napi_env env) {
  const napi_extended_error_info *info = NULL;
  napi_get_last_error_info(env, &info);
  bool pending = false;
  napi_is_exception_pending(env, &pending);
  if (!pending) napi_throw_error(env, NULL, info && info->error_message ? info->error_message : "N-API call failed");
  return NULL;
}

/* A system error: src/links/datagram-socket.ts names it from `errno` and `syscall`, as Node does. */
static napi_value throw_errno(napi_env env, int err, const char *syscall) {
  napi_value msg, error, value;
  napi_create_string_utf8(env, strerror(err), NAPI_AUTO_LENGTH, &msg);
  napi_create_error(env, NULL, msg, &error);
  napi_create_string_utf8(env, syscall, NAPI_AUTO_LENGTH, &value);
  napi_set_named_property(env, error, "syscall", value);
  napi_create_int32(env, -err, &value);
  napi_set_named_property(env, error, "errno", value);
  napi_throw(env, error);
  return NULL;
}

static napi_value int_value(napi_env env, int64_t n) {
  napi_value v;
  napi_create_int64(env, n, &v);
  return v;
}

static udp_socket *unwrap(napi_env env, napi_value value) {
  void *data = NULL;
  if (napi_get_value_external(env, value, &data) != napi_ok || data == NULL) {
    napi_throw_type_error(env, NULL, "not a mavgate UDP socket");
    return NULL;
  }
  udp_socket *s = data;
  if (s->closed) {
    napi_throw_error(env, "ERR_SOCKET_DGRAM_NOT_RUNNING", "socket is closed");
    return NULL;
  }
  return s;
}

/* "address", port -> sockaddr of the socket's family; 0, or an errno. */
static int to_sockaddr(napi_env env, udp_socket *s, napi_value host, napi_value port_value, struct sockaddr_storage *out, socklen_t *len) {
  char text[64];
  size_t n = 0;
  int32_t port = 0;
  if (napi_get_value_string_utf8(env, host, text, sizeof text, &n) != napi_ok) return EINVAL;
  if (napi_get_value_int32(env, port_value, &port) != napi_ok || port < 0 || port > 65535) return EINVAL;
  memset(out, 0, sizeof *out);
  if (s->family == AF_INET6) {
    struct sockaddr_in6 *a = (struct sockaddr_in6 *)out;
    a->sin6_family = AF_INET6;
    a->sin6_port = htons((uint16_t)port);
    if (inet_pton(AF_INET6, text, &a->sin6_addr) != 1) return EINVAL;
    *len = sizeof *a;
  } else {
    struct sockaddr_in *a = (struct sockaddr_in *)out;
    a->sin_family = AF_INET;
    a->sin_port = htons((uint16_t)port);
    if (inet_pton(AF_INET, text, &a->sin_addr) != 1) return EINVAL;
    *len = sizeof *a;
  }
  return 0;
}

static void on_closed(uv_handle_t *handle) {
  udp_socket *s = handle->data;
  s->closing = 0;
  if (s->finalized) free(s);
}

static void stop(udp_socket *s) {
  if (s->closed) return;
  s->closed = 1;
  napi_env env = s->env;
  napi_ref *refs[] = {&s->callback, &s->meta_ref, &s->resource, &s->self};
  for (size_t i = 0; i < sizeof refs / sizeof refs[0]; i++) {
    if (*refs[i]) napi_delete_reference(env, *refs[i]);
    *refs[i] = NULL;
  }
  if (s->async) napi_async_destroy(env, s->async);
  s->async = NULL;
  /* Once the poll is stopped the descriptor may close: the port is free when close() returns. */
  if (s->polling) uv_poll_stop(&s->poll);
  close(s->fd);
  if (s->polling) {
    s->closing = 1;
    uv_close((uv_handle_t *)&s->poll, on_closed);
  }
}

/* The script's last reference is gone: the socket was closed, or was never receiving. */
static void finalize(napi_env env, void *data, void *hint) {
  udp_socket *s = data;
  s->finalized = 1;
  stop(s);
  if (!s->closing) free(s);
}

/* open(family 4 | 6) -> socket */
static napi_value js_open(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  int32_t version = 4;
  CALL(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc > 0) napi_get_value_int32(env, argv[0], &version);
  int family = version == 6 ? AF_INET6 : AF_INET;
  if (!slots) {
    void *area = mmap(NULL, (size_t)BATCH * SLOT_BYTES, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (area == MAP_FAILED) return throw_errno(env, errno, "mmap");
    slots = area;
    for (int i = 0; i < BATCH; i++) {
      vectors[i].iov_base = slots + (size_t)i * SLOT_BYTES;
      vectors[i].iov_len = SLOT_BYTES;
    }
  }
  int fd = socket(family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return throw_errno(env, errno, "socket");
  udp_socket *s = calloc(1, sizeof *s);
  if (!s) {
    close(fd);
    return throw_errno(env, ENOMEM, "socket");
  }
  s->fd = fd;
  s->family = family;
  s->env = env;
  s->poll.data = s;
  napi_value external;
  CALL(env, napi_create_external(env, s, finalize, NULL, &external));
  return external;
}

/* bind(socket, address, port) or connect(socket, address, port): the same address handling, another call. */
static napi_value at_address(napi_env env, napi_callback_info info, int (*call)(int, const struct sockaddr *, socklen_t), const char *syscall) {
  SOCKET_ARGS(3);
  struct sockaddr_storage addr;
  socklen_t len;
  int err = to_sockaddr(env, s, argv[1], argv[2], &addr, &len);
  if (err) return throw_errno(env, err, syscall);
  if (call(s->fd, (struct sockaddr *)&addr, len) != 0) return throw_errno(env, errno, syscall);
  return NULL;
}

static napi_value js_bind(napi_env env, napi_callback_info info) {
  return at_address(env, info, bind, "bind");
}

/* After connect the kernel drops datagrams from anyone but the peer. */
static napi_value js_connect(napi_env env, napi_callback_info info) {
  return at_address(env, info, connect, "connect");
}

/* setPeer(socket, address, port): where send() goes on an unconnected socket. */
static napi_value js_set_peer(napi_env env, napi_callback_info info) {
  SOCKET_ARGS(3);
  int err = to_sockaddr(env, s, argv[1], argv[2], &s->peer, &s->peer_len);
  if (err) {
    s->peer_len = 0;
    return throw_errno(env, err, "send");
  }
  return NULL;
}

/* localPort(socket) -> the port bound */
static napi_value js_local_port(napi_env env, napi_callback_info info) {
  SOCKET_ARGS(1);
  struct sockaddr_storage addr;
  socklen_t len = sizeof addr;
  if (getsockname(s->fd, (struct sockaddr *)&addr, &len) != 0) return throw_errno(env, errno, "getsockname");
  int port = addr.ss_family == AF_INET6 ? ntohs(((struct sockaddr_in6 *)&addr)->sin6_port) : ntohs(((struct sockaddr_in *)&addr)->sin_port);
  return int_value(env, port);
}

/* receiveBuffer(socket[, bytes]) -> SO_RCVBUF as the kernel reports it */
static napi_value js_receive_buffer(napi_env env, napi_callback_info info) {
  SOCKET_ARGS(2);
  if (argc > 1) {
    int32_t bytes = 0;
    CALL(env, napi_get_value_int32(env, argv[1], &bytes));
    if (setsockopt(s->fd, SOL_SOCKET, SO_RCVBUF, &bytes, sizeof bytes) != 0) return throw_errno(env, errno, "setsockopt");
  }
  int size = 0;
  socklen_t len = sizeof size;
  if (getsockopt(s->fd, SOL_SOCKET, SO_RCVBUF, &size, &len) != 0) return throw_errno(env, errno, "getsockopt");
  return int_value(env, size);
}

/* Calls callback(buffer, count) or callback(null, -errno) in a scope of its own. */
static void deliver(udp_socket *s, napi_value buffer, int count) {
  napi_env env = s->env;
  napi_value callback, resource, argv[2], result;
  napi_get_reference_value(env, s->callback, &callback);
  napi_get_reference_value(env, s->resource, &resource);
  if (buffer) argv[0] = buffer;
  else napi_get_null(env, &argv[0]);
  napi_create_int32(env, count, &argv[1]);
  if (napi_make_callback(env, s->async, resource, callback, 2, argv, &result) != napi_ok) {
    napi_value error;
    if (napi_get_and_clear_last_exception(env, &error) == napi_ok) napi_fatal_exception(env, error);
  }
}

static void on_readable(uv_poll_t *poll, int status, int events) {
  udp_socket *s = poll->data;
  if (s->closed) return;
  napi_handle_scope scope;
  napi_open_handle_scope(s->env, &scope);
  if (status < 0) {
    /* libuv reports a pending socket error (an ICMP "port unreachable" on a connected
     * socket) as EBADF and stops polling: name the real error, clear it, and go on. None
     * pending means a send took it first (a send returns it too): nothing to report, and
     * the socket must go on being heard all the same. */
    int err = 0;
    socklen_t len = sizeof err;
    if (getsockopt(s->fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0) err = errno;
    if (err != 0) deliver(s, NULL, -err);
    else if (status != UV_EBADF) deliver(s, NULL, status);
    if (!s->closed) uv_poll_start(&s->poll, UV_READABLE, on_readable);
    napi_close_handle_scope(s->env, scope);
    return;
  }
  for (int i = 0; i < BATCH; i++) {
    memset(&headers[i].msg_hdr, 0, sizeof headers[i].msg_hdr);
    headers[i].msg_hdr.msg_iov = &vectors[i];
    headers[i].msg_hdr.msg_iovlen = 1;
    headers[i].msg_hdr.msg_name = &sources[i];
    headers[i].msg_hdr.msg_namelen = sizeof sources[i];
  }
  int n = recvmmsg(s->fd, headers, BATCH, MSG_DONTWAIT, NULL);
  if (n < 0) {
    if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) deliver(s, NULL, -errno);
    napi_close_handle_scope(s->env, scope);
    return;
  }
  /* One buffer for the whole batch: the script takes views of it, and it lives as long as
   * any of them (frames are views into the bytes that arrived). */
  size_t total = 0;
  for (int i = 0; i < n; i++) total += headers[i].msg_len;
  void *data = NULL;
  napi_value buffer;
  if (napi_create_buffer(s->env, total, &data, &buffer) != napi_ok) {
    napi_close_handle_scope(s->env, scope);
    return;
  }
  unsigned char *to = data;
  int32_t *meta = s->meta;
  for (int i = 0; i < n; i++) {
    unsigned int len = headers[i].msg_len;
    memcpy(to, vectors[i].iov_base, len);
    to += len;
    int32_t *m = meta + i * META_INTS;
    m[0] = (int32_t)len;
    struct sockaddr_storage *from = &sources[i];
    if (from->ss_family == AF_INET6) {
      struct sockaddr_in6 *a = (struct sockaddr_in6 *)from;
      m[1] = ntohs(a->sin6_port);
      m[2] = 6;
      memcpy(&m[3], &a->sin6_addr, 16);
    } else {
      struct sockaddr_in *a = (struct sockaddr_in *)from;
      m[1] = ntohs(a->sin_port);
      m[2] = 4;
      memcpy(&m[3], &a->sin_addr, 4);
      m[4] = m[5] = m[6] = 0;
    }
  }
  deliver(s, buffer, n);
  napi_close_handle_scope(s->env, scope);
}

/* start(socket, callback, meta Int32Array of BATCH * META_INTS): receiving begins. */
static napi_value js_start(napi_env env, napi_callback_info info) {
  SOCKET_ARGS(3);
  if (s->polling) {
    napi_throw_error(env, NULL, "already receiving");
    return NULL;
  }
  napi_typedarray_type type;
  size_t length = 0;
  void *data = NULL;
  CALL(env, napi_get_typedarray_info(env, argv[2], &type, &length, &data, NULL, NULL));
  if (type != napi_int32_array || length < BATCH * META_INTS) {
    napi_throw_range_error(env, NULL, "meta must be an Int32Array of batchSize * metaInts");
    return NULL;
  }
  s->meta = data;
  CALL(env, napi_create_reference(env, argv[1], 1, &s->callback));
  CALL(env, napi_create_reference(env, argv[2], 1, &s->meta_ref));
  CALL(env, napi_create_reference(env, argv[0], 1, &s->self));
  napi_value resource, name;
  CALL(env, napi_create_object(env, &resource));
  CALL(env, napi_create_reference(env, resource, 1, &s->resource));
  CALL(env, napi_create_string_utf8(env, "MAVGATE_UDP", NAPI_AUTO_LENGTH, &name));
  CALL(env, napi_async_init(env, resource, name, &s->async));
  uv_loop_t *loop = NULL;
  CALL(env, napi_get_uv_event_loop(env, &loop));
  int err = uv_poll_init(loop, &s->poll, s->fd);
  if (err) return throw_errno(env, -err, "uv_poll_init");
  s->polling = 1;
  err = uv_poll_start(&s->poll, UV_READABLE, on_readable);
  if (err) return throw_errno(env, -err, "uv_poll_start");
  return NULL;
}

/* send(socket, Buffer | Buffer[]) -> bytes sent, or -errno (EAGAIN: the send buffer is full). */
static napi_value js_send(napi_env env, napi_callback_info info) {
  SOCKET_ARGS(2);
  struct iovec iov[MAX_IOV];
  size_t count = 0;
  bool is_array = false;
  CALL(env, napi_is_array(env, argv[1], &is_array));
  if (is_array) {
    uint32_t length = 0;
    CALL(env, napi_get_array_length(env, argv[1], &length));
    if (length > MAX_IOV) {
      napi_throw_range_error(env, NULL, "too many buffers for one datagram");
      return NULL;
    }
    for (uint32_t i = 0; i < length; i++) {
      napi_value element;
      CALL(env, napi_get_element(env, argv[1], i, &element));
      CALL(env, napi_get_buffer_info(env, element, &iov[count].iov_base, &iov[count].iov_len));
      count++;
    }
  } else {
    CALL(env, napi_get_buffer_info(env, argv[1], &iov[0].iov_base, &iov[0].iov_len));
    count = 1;
  }
  struct msghdr msg;
  memset(&msg, 0, sizeof msg);
  msg.msg_iov = iov;
  msg.msg_iovlen = count;
  if (s->peer_len) {
    msg.msg_name = &s->peer;
    msg.msg_namelen = s->peer_len;
  }
  ssize_t sent;
  do sent = sendmsg(s->fd, &msg, MSG_DONTWAIT | MSG_NOSIGNAL);
  while (sent < 0 && errno == EINTR);
  return int_value(env, sent < 0 ? -errno : sent);
}

/* formatAddress(family, a0, a1, a2, a3) -> text of an address from the metadata array. */
static napi_value js_format_address(napi_env env, napi_callback_info info) {
  size_t argc = 5;
  napi_value argv[5];
  CALL(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  int32_t words[5] = {0};
  for (size_t i = 0; i < argc && i < 5; i++) CALL(env, napi_get_value_int32(env, argv[i], &words[i]));
  char text[INET6_ADDRSTRLEN];
  if (!inet_ntop(words[0] == 6 ? AF_INET6 : AF_INET, &words[1], text, sizeof text)) return throw_errno(env, errno, "inet_ntop");
  napi_value result;
  CALL(env, napi_create_string_utf8(env, text, NAPI_AUTO_LENGTH, &result));
  return result;
}

/* close(socket): stops receiving and closes the descriptor once libuv lets go of it. */
static napi_value js_close(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  CALL(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  void *data = NULL;
  CALL(env, napi_get_value_external(env, argv[0], &data));
  if (data) stop(data);
  return NULL;
}

static napi_value init(napi_env env, napi_value exports) {
  napi_property_descriptor methods[] = {
      {"open", NULL, js_open, NULL, NULL, NULL, napi_default, NULL},
      {"bind", NULL, js_bind, NULL, NULL, NULL, napi_default, NULL},
      {"connect", NULL, js_connect, NULL, NULL, NULL, napi_default, NULL},
      {"setPeer", NULL, js_set_peer, NULL, NULL, NULL, napi_default, NULL},
      {"localPort", NULL, js_local_port, NULL, NULL, NULL, napi_default, NULL},
      {"receiveBuffer", NULL, js_receive_buffer, NULL, NULL, NULL, napi_default, NULL},
      {"start", NULL, js_start, NULL, NULL, NULL, napi_default, NULL},
      {"send", NULL, js_send, NULL, NULL, NULL, napi_default, NULL},
      {"formatAddress", NULL, js_format_address, NULL, NULL, NULL, napi_default, NULL},
      {"close", NULL, js_close, NULL, NULL, NULL, napi_default, NULL},
  };
  napi_define_properties(env, exports, sizeof methods / sizeof methods[0], methods);
  napi_value batch, ints;
  napi_create_int32(env, BATCH, &batch);
  napi_create_int32(env, META_INTS, &ints);
  napi_set_named_property(env, exports, "batchSize", batch);
  napi_set_named_property(env, exports, "metaInts", ints);
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
