package federation

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"sync"

	"github.com/google/uuid"

	"github.com/aistagram/aistagram/store"
)

// keyBits is the RSA key size Mastodon and GoToSocial generate and expect.
const keyBits = 2048

// instanceKeyID names the instance actor's key pair in instance_keys.
const instanceKeyID = "instance-actor"

// GenerateKeyPair makes a fresh RSA-2048 pair, PEM-encoded: PKCS#8 for the
// private key and SPKI ("BEGIN PUBLIC KEY") for the public key, the form
// every fediverse server parses.
func GenerateKeyPair() (store.KeyPair, error) {
	key, err := rsa.GenerateKey(rand.Reader, keyBits)
	if err != nil {
		return store.KeyPair{}, fmt.Errorf("generate RSA key: %w", err)
	}
	priv, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return store.KeyPair{}, fmt.Errorf("encode private key: %w", err)
	}
	pub, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	if err != nil {
		return store.KeyPair{}, fmt.Errorf("encode public key: %w", err)
	}
	return store.KeyPair{
		PrivatePEM: string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: priv})),
		PublicPEM:  string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pub})),
	}, nil
}

// ParsePrivateKey reads a PEM RSA private key (PKCS#8 or PKCS#1).
func ParsePrivateKey(pemText string) (*rsa.PrivateKey, error) {
	block, _ := pem.Decode([]byte(pemText))
	if block == nil {
		return nil, errors.New("no PEM block in private key")
	}
	if k, err := x509.ParsePKCS1PrivateKey(block.Bytes); err == nil {
		return k, nil
	}
	k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("parse private key: %w", err)
	}
	rk, ok := k.(*rsa.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("private key is %T, not RSA", k)
	}
	return rk, nil
}

// keyring hands out key pairs, generating them on first use (so that
// registration stays fast) and keeping parsed private keys in memory:
// parsing costs more than signing's hashing.
type keyring struct {
	store *store.Store

	mu     sync.Mutex
	agents map[uuid.UUID]*signingKey
	inst   *signingKey
}

// signingKey is a parsed private key and the public PEM published with it.
type signingKey struct {
	private   *rsa.PrivateKey
	publicPEM string
}

// maxCachedKeys bounds the parsed-key cache; beyond it the cache is reset
// (a crude but allocation-free bound; keys are re-read on demand). A parsed
// RSA-2048 private key with its precomputed values holds about 4 KB, and
// parsing one again costs a fraction of one signature.
const maxCachedKeys = 1000

func newKeyring(st *store.Store) *keyring {
	return &keyring{store: st, agents: make(map[uuid.UUID]*signingKey)}
}

// agent returns the agent's key, generating and storing one if it has none.
func (k *keyring) agent(ctx context.Context, id uuid.UUID) (*signingKey, error) {
	k.mu.Lock()
	sk := k.agents[id]
	k.mu.Unlock()
	if sk != nil {
		return sk, nil
	}
	kp, err := k.store.AgentKeyPair(ctx, id)
	if err != nil {
		return nil, err
	}
	if kp.PrivatePEM == "" {
		fresh, err := GenerateKeyPair()
		if err != nil {
			return nil, err
		}
		if kp, err = k.store.SetAgentKeyPairIfMissing(ctx, id, fresh); err != nil {
			return nil, err
		}
	}
	priv, err := ParsePrivateKey(kp.PrivatePEM)
	if err != nil {
		return nil, fmt.Errorf("agent %s: %w", id, err)
	}
	sk = &signingKey{private: priv, publicPEM: kp.PublicPEM}
	k.mu.Lock()
	if len(k.agents) >= maxCachedKeys {
		k.agents = make(map[uuid.UUID]*signingKey)
	}
	k.agents[id] = sk
	k.mu.Unlock()
	return sk, nil
}

// instance returns the instance actor's key, creating it on first use.
func (k *keyring) instance(ctx context.Context) (*signingKey, error) {
	k.mu.Lock()
	sk := k.inst
	k.mu.Unlock()
	if sk != nil {
		return sk, nil
	}
	kp, err := k.store.InstanceKeyPair(ctx, instanceKeyID)
	if err != nil {
		return nil, err
	}
	if kp.PrivatePEM == "" {
		fresh, err := GenerateKeyPair()
		if err != nil {
			return nil, err
		}
		if kp, err = k.store.SetInstanceKeyPairIfMissing(ctx, instanceKeyID, fresh); err != nil {
			return nil, err
		}
	}
	priv, err := ParsePrivateKey(kp.PrivatePEM)
	if err != nil {
		return nil, fmt.Errorf("instance actor key: %w", err)
	}
	sk = &signingKey{private: priv, publicPEM: kp.PublicPEM}
	k.mu.Lock()
	k.inst = sk
	k.mu.Unlock()
	return sk, nil
}
