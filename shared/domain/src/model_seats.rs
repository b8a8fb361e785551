//! The stored seat entities: seats, their claim links, the grants that follow claimed seats, and
//! the benefit jobs that carry the work (re-exported by [`crate::model`]).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SeatStatus {
    Pending,
    Claimed,
    Revoked,
    /// A pending seat whose invitation ran out: it holds no seat of the count (the sweeper freed
    /// it) and keeps its email; re-sending the invitation takes a free seat again.
    Expired,
    /// A seat of a lapsed subscription: its benefits revoked, its person and email kept (and
    /// still counted in `seats_assigned`), until a reactivation restores it or the sweeper
    /// revokes it when the suspension ends.
    Suspended,
}

impl SeatStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            SeatStatus::Pending => "pending",
            SeatStatus::Claimed => "claimed",
            SeatStatus::Revoked => "revoked",
            SeatStatus::Expired => "expired",
            SeatStatus::Suspended => "suspended",
        }
    }

    /// Whether the seat is one of the subscription's `seats_assigned` (pending, claimed, or
    /// suspended with its lapsed subscription).
    pub fn holds_a_seat(self) -> bool {
        matches!(self, SeatStatus::Pending | SeatStatus::Claimed | SeatStatus::Suspended)
    }
}

/// A seat of a subscription, assigned to an email and claimed by a customer (the holder).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Seat {
    pub id: String,
    pub subscription_id: String,
    pub organization_id: String,
    pub status: SeatStatus,
    pub email: String,
    #[serde(default)]
    pub customer_id: Option<String>,
    #[serde(default)]
    pub metadata: serde_json::Map<String, serde_json::Value>,
    pub invited_at: DateTime<Utc>,
    #[serde(default)]
    pub invitation_expires_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub claimed_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub revoked_at: Option<DateTime<Utc>>,
    /// SHA-256 of the live claim token (pending seats only). Absent, never null: the store's
    /// conditions test a seat with no link for its absence.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub claim_token_hash: Option<String>,
    /// How many times an expired invitation was sent again: the webhook version of the seat
    /// grows with it (pending → expired → pending again).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub reinvitations: u32,
    /// While suspended: when, and what it was (`pending` or `claimed`), which a restore brings back.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub suspended_at: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub suspended_from: Option<SeatStatus>,
    /// How many times the seat was restored in place: like re-invitations, each starts a
    /// later round of its webhook versions.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub restorations: u32,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

/// The stored side of a claim link: only the token's hash is the key.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClaimToken {
    pub token_hash: String,
    pub seat_id: String,
    pub subscription_id: String,
    pub expires_at: DateTime<Utc>,
    /// The pending seat as the link was made (a pending seat does not change until it is
    /// claimed, revoked or re-sent, and each of those deletes this item): the claim and the
    /// invitation read it here instead of reading the seat. Absent on links made before it was
    /// kept; those read the seat.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seat: Option<Seat>,
    /// The names the invitation and the claim page show (copied from the subscription).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub organization_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub product_name: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GrantStatus {
    Pending,
    Granted,
    Revoked,
}

/// A benefit given to a seat holder: one per (seat, benefit).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Grant {
    pub id: String,
    pub customer_id: String,
    pub seat_id: String,
    pub subscription_id: String,
    pub benefit_id: String,
    pub benefit_type: String,
    pub benefit_name: String,
    pub status: GrantStatus,
    #[serde(default)]
    pub granted_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub revoked_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub license_key: Option<String>,
    /// The file's object key (file_download grants).
    #[serde(default)]
    pub object_key: Option<String>,
    #[serde(default)]
    pub filename: Option<String>,
    /// How many times it was granted again after a suspension (its webhook versions go on).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub reinstatements: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JobKind {
    Grant,
    Revoke,
    /// Revoke every live seat of a lapsed subscription, a page per message.
    RevokeAll,
    /// Suspend every live seat of a subscription that just lapsed, a page per message.
    SuspendAll,
    /// Restore a suspended subscription's seats, a page per message: in place (Stripe
    /// reactivated it) or onto the new subscription of a reactivating purchase.
    Restore,
    /// Mail a pending seat's invitation (its claim link).
    Invite,
    /// Mail a sign-in link if the email is an organization's customer (the worker looks; the
    /// request that asked never does, so known and unknown emails cost and answer the same).
    SignIn,
    /// Mail the billing managers that a renewal's payment failed (with the page to pay it).
    PaymentFailed,
    /// Mail the billing managers that the unpaid renewal was paid after all.
    PaymentRecovered,
}

impl JobKind {
    pub fn as_str(self) -> &'static str {
        match self {
            JobKind::Grant => "grant",
            JobKind::Revoke => "revoke",
            JobKind::RevokeAll => "revoke_all",
            JobKind::SuspendAll => "suspend_all",
            JobKind::Restore => "restore",
            JobKind::Invite => "invite",
            JobKind::SignIn => "sign_in",
            JobKind::PaymentFailed => "payment_failed",
            JobKind::PaymentRecovered => "payment_recovered",
        }
    }
}

/// A job given up after its re-sends: out of the outbox, kept for an operator.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeadJob {
    pub job: Job,
    pub attempts: i64,
    pub reason: String,
    pub dead_at: DateTime<Utc>,
}

/// A benefit job for one seat, carried by SQS and kept in the outbox until done.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Job {
    pub kind: JobKind,
    /// The seat; for `revoke_all` and `suspend_all`, the subscription's id (one such job per
    /// subscription); for `restore`, the suspended subscription's.
    pub seat_id: String,
    /// For `restore`, the subscription the seats are restored to (the same one, in place).
    pub subscription_id: String,
    /// The holder; empty for `revoke_all`.
    pub customer_id: String,
    /// `revoke_all`: the last seat id done (the next page starts after it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cursor: Option<String>,
    /// `invite`: the claim token to mail. It travels only in the queue's message: the outbox
    /// keeps its hash, so a job re-sent from the outbox has none and the worker makes a new link.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub claim_token: Option<String>,
    /// `sign_in`: who asked for a link (the organization's slug and the normalized email).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sign_in: Option<SignInAsk>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignInAsk {
    pub organization_slug: String,
    pub email: String,
}

impl Job {
    pub fn revoke_all(subscription_id: &str, cursor: Option<String>) -> Job {
        Job {
            kind: JobKind::RevokeAll,
            seat_id: subscription_id.to_string(),
            subscription_id: subscription_id.to_string(),
            customer_id: String::new(),
            cursor,
            claim_token: None,
            sign_in: None,
        }
    }

    /// Revoke the benefits of `seat` if it is claimed (a pending seat has none).
    pub fn revoke_benefits(seat: &Seat) -> Option<Job> {
        match (seat.status, &seat.customer_id) {
            (SeatStatus::Claimed, Some(holder)) => Some(Job {
                kind: JobKind::Revoke,
                seat_id: seat.id.clone(),
                subscription_id: seat.subscription_id.clone(),
                customer_id: holder.clone(),
                cursor: None,
                claim_token: None,
                sign_in: None,
            }),
            _ => None,
        }
    }

    /// Suspend the seats of a subscription that lapsed, from `cursor` on.
    pub fn suspend_all(subscription_id: &str, cursor: Option<String>) -> Job {
        Job { kind: JobKind::SuspendAll, ..Job::revoke_all(subscription_id, cursor) }
    }

    /// Restore the suspended seats of `from` onto `to` (the same id: in place), from `cursor` on.
    pub fn restore(from: &str, to: &str, cursor: Option<String>) -> Job {
        Job { kind: JobKind::Restore, subscription_id: to.to_string(), ..Job::revoke_all(from, cursor) }
    }

    /// Mail the invitation of a pending seat, with the link of `claim_token`.
    pub fn invite(subscription_id: &str, seat_id: &str, claim_token: Option<String>) -> Job {
        Job {
            kind: JobKind::Invite,
            seat_id: seat_id.to_string(),
            subscription_id: subscription_id.to_string(),
            customer_id: String::new(),
            cursor: None,
            claim_token,
            sign_in: None,
        }
    }

    /// Mail a sign-in link to `email` if it is a customer of the organization `slug`.
    pub fn sign_in(slug: &str, email: &str) -> Job {
        Job {
            kind: JobKind::SignIn,
            seat_id: String::new(),
            subscription_id: String::new(),
            customer_id: String::new(),
            cursor: None,
            claim_token: None,
            sign_in: Some(SignInAsk { organization_slug: slug.to_string(), email: email.to_string() }),
        }
    }

    /// A mail to a subscription's billing managers about its payment (one per subscription
    /// and kind in the outbox: a later one of the same kind replaces it).
    pub fn billing_notice(kind: JobKind, subscription_id: &str, customer_id: &str) -> Job {
        Job {
            kind,
            seat_id: subscription_id.to_string(),
            subscription_id: subscription_id.to_string(),
            customer_id: customer_id.to_string(),
            cursor: None,
            claim_token: None,
            sign_in: None,
        }
    }

    /// What the outbox keeps of this job: everything but the claim token.
    pub fn for_outbox(&self) -> Job {
        Job { claim_token: None, ..self.clone() }
    }
}
