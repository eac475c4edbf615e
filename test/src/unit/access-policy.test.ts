/**
 * The write access policy on its own: how a call's transport is told (the Unix socket marker,
 * a verified client certificate, neither), which transports each setting admits, and what a
 * refused caller is told. No I/O: calls are stand-ins with the parts the policy reads.
 */
import * as grpc from '@grpc/grpc-js';
import { expect } from 'chai';
import { CacheError, ErrorCode, toGrpcStatus } from '@checkpoint-cache/errors';
import {
  AccessPolicy,
  transportOf,
  unixSocketInterceptor,
  type CallOrigin,
  type CallTransport,
  type WriteAccess,
} from '@checkpoint-cache/service';

type AuthContext = ReturnType<CallOrigin['getAuthContext']>;

function call(auth: AuthContext = {}, metadata = new grpc.Metadata()): CallOrigin {
  return { metadata, getPeer: () => '10.1.2.3:45678', getAuthContext: () => auth };
}

/** Metadata as the Unix socket listener's interceptor hands it on to the handler. */
function throughSocketInterceptor(): grpc.Metadata {
  const metadata = new grpc.Metadata();
  let delivered: grpc.Metadata | undefined;
  const next = {
    start(listener: { onReceiveMetadata(m: grpc.Metadata): void }) {
      listener.onReceiveMetadata(metadata);
    },
  } as unknown as grpc.ServerInterceptingCallInterface;
  const intercepted = unixSocketInterceptor(
    {} as grpc.ServerMethodDefinition<unknown, unknown>,
    next,
  );
  intercepted.start({
    onReceiveMetadata: (m: grpc.Metadata) => (delivered = m),
    onReceiveMessage: () => undefined,
    onReceiveHalfClose: () => undefined,
    onCancel: () => undefined,
  });
  expect(delivered, 'metadata passed on').to.equal(metadata);
  return metadata;
}

const VERIFIED: AuthContext = {
  transportSecurityType: 'ssl',
  sslPeerCertificate: { subject: { CN: 'tm-1' } } as unknown as AuthContext['sslPeerCertificate'],
};

describe('access policy', function () {
  describe('transportOf', function () {
    it('takes a call the Unix socket interceptor marked as local', function () {
      expect(transportOf(call({}, throughSocketInterceptor()))).to.equal('unix-socket');
    });

    it('takes a call with a verified client certificate as mtls', function () {
      expect(transportOf(call(VERIFIED))).to.equal('mtls');
    });

    it('takes everything else as TCP: plaintext, TLS without a client certificate, headers', function () {
      expect(transportOf(call())).to.equal('tcp');
      expect(transportOf(call({ transportSecurityType: 'ssl' }))).to.equal('tcp');
      // A client cannot claim to be local: only the metadata object the interceptor saw counts.
      const claimed = new grpc.Metadata();
      claimed.set('x-ckc-transport', 'unix-socket');
      expect(transportOf(call({}, claimed))).to.equal('tcp');
    });
  });

  describe('checkWrite', function () {
    const table: [WriteAccess, CallTransport[]][] = [
      ['socket', ['unix-socket']],
      ['mtls', ['unix-socket', 'mtls']],
      ['any', ['unix-socket', 'mtls', 'tcp']],
    ];
    for (const [writeAccess, allowed] of table) {
      it(`with ${writeAccess}, admits ${allowed.join(', ')}`, function () {
        const policy = new AccessPolicy({ writeAccess });
        for (const t of ['unix-socket', 'mtls', 'tcp'] as CallTransport[]) {
          expect(policy.allowsWrite(t), t).to.equal(allowed.includes(t));
        }
      });
    }

    it('refuses with PERMISSION_DENIED, saying where to go and what to change', function () {
      const policy = new AccessPolicy({ writeAccess: 'socket', socketPath: '/run/ckc/agent.sock' });
      expect(() => policy.checkWrite(call({}, throughSocketInterceptor()), 'Write')).not.to.throw();
      let err: unknown;
      try {
        policy.checkWrite(call(), 'Delete');
      } catch (e) {
        err = e;
      }
      expect(err).to.be.instanceOf(CacheError);
      expect((err as CacheError).code).to.equal(ErrorCode.PermissionDenied);
      expect(toGrpcStatus(err).code).to.equal(grpc.status.PERMISSION_DENIED);
      expect((err as Error).message)
        .to.include('Delete changes the cache')
        .and.to.include('10.1.2.3:45678')
        .and.to.include('unix:/run/ckc/agent.sock')
        .and.to.include('CKC_WRITE_ACCESS');
    });

    it('tells a refused TCP client of an mtls agent about client certificates', function () {
      const policy = new AccessPolicy({ writeAccess: 'mtls' });
      expect(() => policy.checkWrite(call(VERIFIED), 'Write')).not.to.throw();
      expect(() => policy.checkWrite(call(), 'Release')).to.throw(/CKC_TLS_CLIENT_CA/);
    });
  });
});
