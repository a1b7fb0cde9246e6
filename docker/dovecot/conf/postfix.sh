#!/bin/sh
# maildrill: Postfix for the real target (run once at image build).
# Local domains go to Dovecot over LMTP; everything else is the outside
# world, which maildrill captures: the discard transport logs it as sent.
set -e
postconf -e \
  'compatibility_level = 3.6' \
  'inet_protocols = all' \
  'maillog_file = /var/log/mail.log' \
  'mynetworks = 127.0.0.0/8' \
  'mydestination = $myhostname, localhost, $mydomain' \
  'local_transport = lmtp:unix:private/dovecot-lmtp' \
  'local_recipient_maps =' \
  'default_transport = discard' \
  'relay_transport = discard' \
  'smtpd_sasl_type = dovecot' \
  'smtpd_sasl_path = private/auth' \
  'smtpd_relay_restrictions = permit_mynetworks, permit_sasl_authenticated, reject_unauth_destination' \
  'smtpd_tls_security_level = may' \
  'smtp_tls_security_level = none' \
  'message_size_limit = 26214400' \
  'biff = no'
# message_size_limit: mailsim's 25 MiB (Postfix's default is 10 MB), so a
# scenario's large attachment goes through on both targets.
# TLS as on mailsim: STARTTLS offered on the MX and submission ports
# (smtpd_tls_security_level = may above), with the certificate maildrill
# gives (the entrypoint sets smtpd_tls_cert_file and smtpd_tls_key_file;
# Debian's snakeoil certificate otherwise). AUTH is offered before STARTTLS
# too (smtpd_tls_auth_only = no on submission): scenarios decide.
#
# Lab settings (docs/dovecot.md): a password spray over SMTP AUTH runs at
# full speed and is never cut off. They change no log line.
#  - smtpd_error_sleep_time: the 1 s pause before each 4xx/5xx reply;
#  - smtpd_soft_error_limit / smtpd_hard_error_limit: the extra pause after
#    10 errors and the disconnection after 20 in one session;
#  - smtpd_junk_command_limit: the same for NOOP/RSET/VRFY/ETRN;
#  - smtpd_client_connection_count_limit: 50 simultaneous connections per
#    client address (anvil), now unlimited; the anvil rate limits are 0
#    (off), as by default, and set so here.
postconf -e \
  'smtpd_error_sleep_time = 0' \
  'smtpd_soft_error_limit = 100000' \
  'smtpd_hard_error_limit = 100000' \
  'smtpd_junk_command_limit = 100000' \
  'smtpd_client_connection_count_limit = 0' \
  'smtpd_client_connection_rate_limit = 0' \
  'smtpd_client_auth_rate_limit = 0' \
  'smtpd_client_message_rate_limit = 0' \
  'smtpd_client_recipient_rate_limit = 0'
sub='-o syslog_name=postfix/submission -o smtpd_sasl_auth_enable=yes -o smtpd_tls_auth_only=no -o smtpd_relay_restrictions=permit_sasl_authenticated,reject -o smtpd_recipient_restrictions=permit_sasl_authenticated,reject'
{
  echo "587 inet n - y - - smtpd $sub"
  echo "10587 inet n - y - - smtpd $sub -o smtpd_upstream_proxy_protocol=haproxy"
  echo "10025 inet n - y - - smtpd -o smtpd_upstream_proxy_protocol=haproxy"
} | sed 's/ -o /\n  -o /g' >>/etc/postfix/master.cf
