//! Seats at team scale in memory, with the table's conditions: expiry only of the pending seat
//! with that link, re-invitation only into a free seat, and batches written under a reservation
//! of the counter that the counter's own bound decided.

use super::MemoryStore;
use crate::error::StoreError;
use crate::model::*;
use crate::ports::*;
use async_trait::async_trait;
use chrono::{DateTime, Utc};

fn room_for(sub: &Subscription, n: i64) -> bool {
    sub.status.allows_seat_changes() && sub.seats_assigned + n <= sub.assign_cap.min(sub.seats)
}

#[async_trait]
impl TeamSeatStore for MemoryStore {
    async fn expired_links(&self, now: DateTime<Utc>, limit: usize) -> Result<Vec<ClaimToken>, StoreError> {
        self.with(|s| {
            let mut due: Vec<ClaimToken> =
                s.claim_tokens.values().filter(|t| t.expires_at <= now).cloned().collect();
            due.sort_by(|a, b| (a.expires_at, &a.token_hash).cmp(&(b.expires_at, &b.token_hash)));
            due.truncate(limit);
            due
        })
    }

    async fn expire_seat(&self, e: &SeatExpiry) -> Result<bool, StoreError> {
        self.with(|s| {
            let key = (e.seat.subscription_id.clone(), e.seat.id.clone());
            let Some(current) = s.seats.get_mut(&key) else { return false };
            let due = current.invitation_expires_at.is_some_and(|at| at <= e.at);
            if current.status != SeatStatus::Pending
                || current.claim_token_hash != e.seat.claim_token_hash
                || !due
            {
                return false;
            }
            current.status = SeatStatus::Expired;
            if let Some(h) = current.claim_token_hash.take() {
                s.claim_tokens.remove(&h);
            }
            if let Some(sub) = s.subscriptions.get_mut(&e.seat.subscription_id) {
                sub.seats_assigned -= 1;
            }
            s.audit.push(e.audit.clone());
            true
        })
    }

    async fn drop_claim_token(&self, token_hash: &str) -> Result<(), StoreError> {
        self.with(|s| {
            s.claim_tokens.remove(token_hash);
        })
    }

    async fn reinvite_seat(&self, r: &SeatReinvitation) -> Result<ReinviteOutcome, StoreError> {
        self.with(|s| {
            let sub_id = r.seat.subscription_id.clone();
            if !s.subscriptions.get(&sub_id).is_some_and(|sub| room_for(sub, 1)) {
                return ReinviteOutcome::NoSeats;
            }
            let key = (sub_id.clone(), r.seat.id.clone());
            if s.seats.get(&key).is_none_or(|current| current.status != SeatStatus::Expired) {
                return ReinviteOutcome::SeatChanged;
            }
            if s.rate_counters.get(&r.limit.key).is_some_and(|h| *h >= r.limit.max) {
                return ReinviteOutcome::RateLimited;
            }
            *s.rate_counters.entry(r.limit.key.clone()).or_default() += 1;
            if let Some(sub) = s.subscriptions.get_mut(&sub_id) {
                sub.seats_assigned += 1;
            }
            if let Some(current) = s.seats.get_mut(&key) {
                current.status = SeatStatus::Pending;
                current.claim_token_hash = Some(r.token.token_hash.clone());
                current.invitation_expires_at = Some(r.token.expires_at);
                current.reinvitations += 1;
            }
            s.claim_tokens.insert(r.token.token_hash.clone(), r.token.clone());
            s.audit.push(r.audit.clone());
            s.put_invitation(&r.invitation, &r.token.token_hash, r.audit.created_at.timestamp());
            ReinviteOutcome::Reinvited
        })
    }

    async fn seat_emails_taken(
        &self,
        subscription_id: &str,
        emails: &[String],
    ) -> Result<std::collections::HashSet<String>, StoreError> {
        self.with(|s| {
            emails
                .iter()
                .filter(|e| s.seat_emails.contains_key(&(subscription_id.to_string(), e.to_string())))
                .cloned()
                .collect()
        })
    }

    async fn reserve_seats(&self, r: &SeatReservation) -> Result<ReservationOutcome, StoreError> {
        self.with(|s| {
            let Some(sub) = s.subscriptions.get(&r.subscription_id) else {
                return ReservationOutcome::NoSeats;
            };
            if sub.seats != r.seats_read || sub.assign_cap != r.assign_cap_read {
                return ReservationOutcome::BoundChanged;
            }
            if !sub.status.allows_seat_changes() || sub.seats_assigned > r.max_assigned_before {
                return ReservationOutcome::NoSeats;
            }
            let hits = s.rate_counters.get(&r.limit.key).copied().unwrap_or(0);
            if i64::from(hits) + r.seats > i64::from(r.limit.max) {
                return ReservationOutcome::RateLimited;
            }
            s.rate_counters.insert(r.limit.key.clone(), hits + r.seats as u32);
            if let Some(sub) = s.subscriptions.get_mut(&r.subscription_id) {
                sub.seats_assigned += r.seats;
            }
            s.reservations.insert((r.subscription_id.clone(), r.id.clone()), (r.seats, r.created_at));
            ReservationOutcome::Reserved
        })
    }

    async fn assign_reserved_seats(
        &self,
        reservation_id: &str,
        subscription_id: &str,
        seats: &[SeatAssignment],
    ) -> Result<Vec<bool>, StoreError> {
        self.with(|s| {
            let key = (subscription_id.to_string(), reservation_id.to_string());
            seats
                .iter()
                .map(|a| {
                    let left = s.reservations.get(&key).map_or(0, |(left, _)| *left);
                    if left < 1
                        || s.seat_emails.contains_key(&(a.seat.subscription_id.clone(), a.seat.email.clone()))
                    {
                        return false;
                    }
                    if let Some((left, _)) = s.reservations.get_mut(&key) {
                        *left -= 1;
                    }
                    // Counted on the limit by the reservation: the row's own hit is not made.
                    s.seat_emails
                        .insert((a.seat.subscription_id.clone(), a.seat.email.clone()), a.seat.id.clone());
                    s.claim_tokens.insert(a.token.token_hash.clone(), a.token.clone());
                    s.seats.insert((a.seat.subscription_id.clone(), a.seat.id.clone()), a.seat.clone());
                    s.audit.push(a.audit.clone());
                    s.put_invitation(&a.invitation, &a.token.token_hash, a.seat.invited_at.timestamp());
                    true
                })
                .collect()
        })
    }

    async fn release_reservation(
        &self,
        subscription_id: &str,
        reservation_id: &str,
    ) -> Result<(), StoreError> {
        self.with(|s| {
            if s.grow_holds.get(subscription_id).is_some_and(|r| r == reservation_id) {
                s.grow_holds.remove(subscription_id);
            }
            if let Some((left, _)) =
                s.reservations.remove(&(subscription_id.to_string(), reservation_id.to_string()))
            {
                if let Some(sub) = s.subscriptions.get_mut(subscription_id) {
                    sub.seats_assigned -= left;
                }
            }
        })
    }

    async fn stale_reservations(
        &self,
        cutoff: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<OpenReservation>, StoreError> {
        self.with(|s| {
            let mut open: Vec<(DateTime<Utc>, OpenReservation)> = s
                .reservations
                .iter()
                .filter(|(_, (_, at))| *at < cutoff)
                .map(|((sub, id), (left, at))| {
                    (*at, OpenReservation { id: id.clone(), subscription_id: sub.clone(), remaining: *left })
                })
                .collect();
            open.sort_by(|a, b| (a.0, &a.1.id).cmp(&(b.0, &b.1.id)));
            open.into_iter().take(limit).map(|(_, r)| r).collect()
        })
    }
}
